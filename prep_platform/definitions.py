"""The code location: every asset, check, job and resource, assembled in one place."""

import dagster as dg

from prep_platform.defs.frames import assets as frames_assets
from prep_platform.defs.frames import checks as frames_checks
from prep_platform.defs.jobs import latents_job, prep_job
from prep_platform.defs.latents import assets as latents_assets
from prep_platform.defs.latents import checks as latents_checks
from prep_platform.defs.latents import index as latents_index
from prep_platform.defs.metadata import assets as metadata_assets
from prep_platform.defs.metadata import checks as metadata_checks
from prep_platform.defs.metadata import storage_checks
from prep_platform.defs.automation.schedules import (
    latents_nightly_schedule,
    prep_automation_sensor,
    raw_refresh_job,
    raw_refresh_schedule,
)
from prep_platform.defs.eval import assets as eval_assets
from prep_platform.defs.raw import assets as raw_assets
from prep_platform.defs.raw import checks as raw_checks
from prep_platform.defs.raw import panda70m as panda70m_assets
from prep_platform.defs.raw import source_checks
from prep_platform.defs.raw import vatex as vatex_assets
from prep_platform.defs.resources import PrepPlatformSettings, VaeResource


def build_definitions(settings: PrepPlatformSettings | None = None, vae: VaeResource | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules(
            [raw_assets, vatex_assets, panda70m_assets, metadata_assets, eval_assets, frames_assets, latents_assets,
             latents_index]
        ),
        asset_checks=dg.load_asset_checks_from_modules(
            [raw_checks, source_checks, metadata_checks, storage_checks, frames_checks, latents_checks]
        ),
        jobs=[prep_job, latents_job, raw_refresh_job],
        schedules=[raw_refresh_schedule, latents_nightly_schedule],
        sensors=[prep_automation_sensor],
        resources={"settings": settings or PrepPlatformSettings.from_env(), "vae": vae or VaeResource.from_env()},
    )


defs = build_definitions()
