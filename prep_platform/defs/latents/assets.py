"""Latent stage per shard of a scenario: the VAE encodes each ok clip's window into a self-describing cache file."""

from pathlib import Path

import dagster as dg

from prep_platform.defs.frames.assets import clip_frames
from prep_platform.defs.markdown import bullets
from prep_platform.defs.shard_assets import gpu_shard_asset, per_shard
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings, VaeResource, run_config_class, run_settings
from prep_platform.lib import pipeline
from prep_platform.lib.models.vae import VaeEncoder
from prep_platform.lib.shards import shard_key
from prep_platform.lib.statuses import CACHED_STATUSES
from prep_platform.defs.table_schemas import column_schema_metadata
from prep_platform.lib.stages.latents import LatentRow

ClipLatentsConfig = run_config_class("ClipLatentsConfig", "augment", "prefetch")


@gpu_shard_asset(
    group_name="latents",
    deps=[clip_frames],
    metadata=column_schema_metadata(LatentRow),  # the manifest's rows
    description="The model profile's VAE latents per clip (CogVideoX by default; one folder per profile): latent distribution (mean, logvar) and clean first-frame image "
    "latents, float16, with a header saying how they were made. Incremental: current caches are skipped, "
    "relabelled clips moved, only new or stale clips encoded.",
)
def clip_latents(
    context: dg.AssetExecutionContext, config: ClipLatentsConfig, settings: PrepPlatformSettings, vae: VaeResource
) -> dg.MaterializeResult:
    prep = run_settings(settings, config)
    layout = prep.layout()
    # One encoder for every shard of the run: its weights load (and compile) once, and only if a cache is stale.
    encoder = vae.load(prep.model())
    context.log.info(f"VAE {encoder.model_id} on {encoder.device} ({encoder.dtype}); loaded only if something must be encoded")
    loads_before = VaeEncoder.loads
    result = per_shard(context, lambda scenario, shard: _latents(context, prep, layout, encoder, scenario, shard))
    # Models built by this step for all of its shards: 1 when anything was stale, 0 when every cache was current.
    return dg.MaterializeResult(metadata={**result.metadata, "model_loads": VaeEncoder.loads - loads_before})


def _latents(context: dg.AssetExecutionContext, prep, layout, encoder, scenario: str, shard: int) -> dict:
    try:
        result = pipeline.encode_latents(prep, layout, scenario, shard, encoder, progress=clip_progress_logger(
            context, "latents", shard=shard_key(scenario, shard)))
    except pipeline.MissingInputError as exc:
        raise dg.Failure(str(exc)) from None
    counts = result.counts
    return {
        "dagster/row_count": len(result.clips),
        "manifest": dg.MetadataValue.path(str(layout.latents_manifest(scenario, shard))),
        "encoded": counts.get("encoded", 0),
        "skipped": counts.get("skipped", 0),
        "moved": counts.get("moved", 0),
        "failed": counts.get("failed", 0),
        "orphaned": len(result.orphaned),
        "cache_bytes": sum(Path(r["latent_path"]).stat().st_size for r in result.clips
                           if r["status"] in CACHED_STATUSES and Path(r["latent_path"]).exists()),
        "failed_clips": bullets(
            f"{r.get('sample_id') or r['video_id']} ({r['augmentation']}): {r['reason']}" for r in result.clips if r["status"] == "failed"
        ),
        "model_id": encoder.model_id,
        "encode_dtype": encoder.identity()["dtype"],
        "device": str(encoder.device),
        "duration_s": result.duration_s,
        "vae_seconds": round(result.encode_seconds, 3),
        "clips_per_s": round(result.encoded_clips / max(result.duration_s, 1e-9), 3),
        "startup_s": result.startup_s if result.startup_s is not None else "none (nothing encoded)",
        "batch_size": result.encoder.get("batch_size"),
        "batch_choice": result.encoder.get("batch_choice", ""),
        "compiled": result.encoder.get("compiled"),
        "model_loaded": result.encoder.get("model_loaded"),
    }
