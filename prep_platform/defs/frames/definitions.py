"""The frame stage per scenario and its image check."""

import dagster as dg

from prep_platform.defs.frames import assets, checks

defs = dg.Definitions(assets=[assets.clip_frames], asset_checks=dg.load_asset_checks_from_modules([checks]))
