"""Scenario metadata, its schema and split checks, and the storage checks that gate what follows."""

import dagster as dg

from prep_platform.defs.metadata import assets, checks, storage_checks

defs = dg.Definitions(
    assets=[assets.scenario_metadata],
    asset_checks=dg.load_asset_checks_from_modules([checks, storage_checks]),
)
