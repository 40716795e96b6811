"""Jobs. `prep_job` materialises every asset (and runs every check) on whatever source the settings name."""


import dagster as dg

prep_job = dg.define_asset_job(
    "prep_job",
    selection=dg.AssetSelection.all(),
    description="Every asset: MSR-VTT download, scenario metadata, and their checks.",
)
