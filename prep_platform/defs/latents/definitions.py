"""VAE latents per shard of work (GPU), their file check, and the trainer's index."""

import dagster as dg

from prep_platform.defs.latents import assets, checks, training_index

defs = dg.Definitions(
    assets=[assets.clip_latents, training_index.training_index],
    asset_checks=dg.load_asset_checks_from_modules([checks]),
)
