"""The trainer's index per shard of a scenario (exports read every shard): only clips whose latent caches passed the blocking check get in."""

import dagster as dg

from prep_platform.defs.latents.assets import clip_latents
from prep_platform.defs.shard_assets import per_shard, shard_asset
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.table_schemas import column_schema_metadata
from prep_platform.lib import pipeline
from prep_platform.lib.stages.training_index import IndexRow


@shard_asset(
    op_tags=CPU_STEP_TAGS,
    group_name="latents",
    deps=[clip_latents],
    kinds={"python", "parquet"},
    metadata=column_schema_metadata(IndexRow),
    description="One row per sample (window) with a verified latent cache: split, caption, prompt variants, latent "
    "and image paths, augmentations (Parquet, one file per shard). Runs only after clip_latents' blocking check passed.",
)
def training_index(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    layout = settings.layout()

    def write(scenario: str, shard: int) -> dict:
        index = pipeline.write_index(settings.core(), layout, scenario, shard)
        return {"dagster/row_count": len(index.rows), "path": dg.MetadataValue.path(str(layout.training_index(scenario, shard))),
                **index.counts}

    return per_shard(context, write)
