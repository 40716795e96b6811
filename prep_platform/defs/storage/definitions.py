"""Storage: the free-space and per-layer budget checks, run with the scenario metadata before frames and latents
are written (a domain of their own: they cover every data layer, not the metadata)."""

import dagster as dg

from prep_platform.defs.storage import checks

defs = dg.Definitions(asset_checks=dg.load_asset_checks_from_modules([checks]))
