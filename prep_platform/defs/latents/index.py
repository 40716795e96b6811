"""The trainer's index per scenario: only clips whose latent caches passed the blocking check get in."""

import dagster as dg

from prep_platform.defs.latents.assets import clip_latents
from prep_platform.defs.partitions import scenario_asset
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.lib import pipeline


@scenario_asset(
    op_tags=CPU_STEP_TAGS,
    group_name="latents",
    deps=[clip_latents],
    kinds={"python", "json"},
    description="One JSON line per clip with a verified latent cache: split, caption, prompt variants, latent and "
    "image paths, augmentations. Runs only after clip_latents' blocking check passed.",
)
def training_index(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    scenario = context.partition_key
    layout = settings.layout()
    index = pipeline.write_index(settings.core(), layout, scenario)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(index.rows),
            "path": dg.MetadataValue.path(str(layout.training_index(scenario))),
            **index.counts,
        }
    )
