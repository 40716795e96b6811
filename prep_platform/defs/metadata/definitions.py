"""Scenario metadata and its schema, split, share, coverage and confidence checks."""

import dagster as dg

from prep_platform.defs.metadata import assets, checks

defs = dg.Definitions(
    assets=[assets.scenario_metadata],
    asset_checks=dg.load_asset_checks_from_modules([checks]),
)
