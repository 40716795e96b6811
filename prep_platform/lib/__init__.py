"""The pure core: data layout, settings, the pipeline and its stages, sources, formats. No Dagster import here."""
