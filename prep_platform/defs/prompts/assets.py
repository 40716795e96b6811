"""Prompt embeddings per shard of a scenario: the T5 text encoder on the GPU executor, once per distinct prompt."""

import dagster as dg

from prep_platform.defs.metadata.assets import scenario_metadata
from prep_platform.defs.shard_assets import gpu_shard_asset, per_shard
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource
from prep_platform.lib import pipeline
from prep_platform.lib.shards import shard_key
from prep_platform.defs.table_schemas import column_schema_metadata
from prep_platform.lib.stages.prompt_embeddings import PromptRow


@gpu_shard_asset(
    group_name="prompts",
    deps=[scenario_metadata],
    metadata=column_schema_metadata(PromptRow),  # the manifest's rows
    description="Prompt embeddings by the model profile's text encoder (cogvideox: T5, its own tokenizer, max length 226, padded, "
    "truncated) for every prompt variant of the shard's clips, caption first: one file per distinct prompt, "
    "keyed by its sha256. Only new or changed prompts are encoded.",
)
def prompt_embeddings(context: dg.AssetExecutionContext, settings: PrepPlatformSettings,
                      text_encoder: TextEncoderResource) -> dg.MaterializeResult:
    layout = settings.layout()
    encoder = text_encoder.load(settings.core().model())  # once for every shard of the run
    context.log.info(f"text encoder {encoder.model_id} on {encoder.device} ({encoder.dtype}), tag {encoder.tag()}")
    return per_shard(context, lambda scenario, shard: _prompts(context, settings, layout, encoder, scenario, shard))


def _prompts(context: dg.AssetExecutionContext, settings: PrepPlatformSettings, layout, encoder, scenario: str, shard: int) -> dict:
    result = pipeline.encode_prompts(settings.core(), layout, scenario, shard, encoder,
                                     progress=clip_progress_logger(context, "prompts", shard=shard_key(scenario, shard),
                                                                   unit="prompt"))
    counts = result.counts
    return {
        "dagster/row_count": len(result.rows),
        "manifest": dg.MetadataValue.path(str(layout.prompt_embeds_manifest(scenario, shard))),
        "distinct_prompts": len(result.prompts),
        "encoded": counts.get("encoded", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "encoder_tag": result.encoder_tag,
        "model_id": encoder.model_id,
        "tokenizer_fingerprint": result.encoder_identity["tokenizer_fingerprint"],
        "duration_s": result.duration_s,
        "prompts_per_s": round(counts.get("encoded", 0) / max(result.encode_seconds, 1e-9), 2),
    }
