"""VATEX evaluation prompts."""

import dagster as dg

from prep_platform.defs.eval import assets

defs = dg.Definitions(assets=[assets.vatex_eval_prompts])
