"""The pure core: parsing, downloading, probing, labelling, manifests. No Dagster import here."""
