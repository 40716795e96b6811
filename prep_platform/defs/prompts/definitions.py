"""Prompt embeddings per scenario (GPU) and their check."""

import dagster as dg

from prep_platform.defs.prompts import assets, checks

defs = dg.Definitions(assets=[assets.prompt_embeddings], asset_checks=dg.load_asset_checks_from_modules([checks]))
