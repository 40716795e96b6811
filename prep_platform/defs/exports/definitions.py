"""Training exports per trainer format and their read-back check."""

import dagster as dg

from prep_platform.defs.exports import assets, checks

defs = dg.Definitions(assets=[assets.training_exports], asset_checks=dg.load_asset_checks_from_modules([checks]))
