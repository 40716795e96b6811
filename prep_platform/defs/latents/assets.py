"""Latent stage per scenario: the VAE encodes each ok clip's window into a self-describing cache file."""

from pathlib import Path

import dagster as dg

from prep_platform.defs.automation.schedules import downstream_automation

from prep_platform.defs.frames.assets import clip_frames
from prep_platform.defs.frames.checks import load_frames_manifest
from prep_platform.defs.partitions import scenario_partitions
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings, VaeResource
from prep_platform.defs.tags import GPU_STEP_TAGS
from prep_platform.lib.prepare import LATENTS_MANIFEST, latent_items_from_frames, run_latent_stage, write_latents_manifest
from prep_platform.defs.markdown import bullets

class ClipLatentsConfig(dg.Config):
    augment: bool = False  # also encode a horizontally flipped variant per clip (`<id>.hflip.npz`)
    prefetch: int = 4  # decoded windows waiting for the encoder


@dg.asset(
    group_name="latents",
    deps=[clip_frames],
    partitions_def=scenario_partitions,
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
    kinds={"pytorch", "python"},
    owners=["team:data-prep"],
    automation_condition=downstream_automation(),
    description="CogVideoX VAE latents per clip: latent distribution (mean, logvar) and clean first-frame image "
    "latents, float16, with a header saying how they were made. Incremental: current caches are skipped, "
    "relabelled clips moved, only new or stale clips encoded.",
)
def clip_latents(
    context: dg.AssetExecutionContext, config: ClipLatentsConfig, settings: PrepPlatformSettings, vae: VaeResource
) -> dg.MaterializeResult:
    scenario = context.partition_key
    manifest = load_frames_manifest(settings, scenario)
    if manifest is None:
        raise dg.Failure(f"no frames manifest for {scenario!r}: materialise clip_frames for this partition first")
    items = latent_items_from_frames(manifest["clips"])
    encoder = vae.load()
    context.log.info(f"{len(items)} ok clips; VAE {encoder.model_id} on {encoder.device} ({encoder.dtype})")
    result = run_latent_stage(
        items,
        settings.frame_config(),
        encoder,
        latents_root=settings.latents_root(),
        augment=config.augment,
        workers=settings.workers,
        prefetch=config.prefetch,
        progress=clip_progress_logger(context, "latents"),
    )
    path = settings.latents_root() / scenario / LATENTS_MANIFEST
    write_latents_manifest(path, result, scenario, {"augment": config.augment, **encoder.identity(), "vae_preset": encoder.settings.preset})
    counts = result.counts
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.clips),
            "manifest": dg.MetadataValue.path(str(path)),
            "encoded": counts.get("encoded", 0),
            "skipped": counts.get("skipped", 0),
            "moved": counts.get("moved", 0),
            "failed": counts.get("failed", 0),
            "orphaned": len(result.orphaned),
            "cache_bytes": sum(Path(r["latent_path"]).stat().st_size for r in result.clips
                               if r["status"] in ("encoded", "skipped", "moved") and Path(r["latent_path"]).exists()),
            "failed_clips": bullets(
                f"{r['video_id']} ({r['augmentation']}): {r['reason']}" for r in result.clips if r["status"] == "failed"
            ),
            "model_id": encoder.model_id,
            "encode_dtype": encoder.identity()["dtype"],
            "device": str(encoder.device),
            "duration_s": result.duration_s,
            "vae_seconds": round(result.encode_seconds, 3),
            "clips_per_s": round(result.encoded_clips / max(result.duration_s, 1e-9), 3),
        }
    )
