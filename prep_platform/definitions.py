"""The code location: every asset, check, job and resource, assembled in one place."""


import dagster as dg

from prep_platform.defs.jobs import prep_job
from prep_platform.defs.metadata import assets as metadata_assets
from prep_platform.defs.metadata import checks as metadata_checks
from prep_platform.defs.raw import assets as raw_assets
from prep_platform.defs.raw import checks as raw_checks
from prep_platform.defs.resources import PrepPlatformSettings


def build_definitions(settings: PrepPlatformSettings | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([raw_assets, metadata_assets]),
        asset_checks=dg.load_asset_checks_from_modules([raw_checks, metadata_checks]),
        jobs=[prep_job],
        resources={"settings": settings or PrepPlatformSettings.from_env()},
    )


defs = build_definitions()
