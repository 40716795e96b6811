"""Checks on a scenario's latent caches: readable, the configured geometry and model, sane values."""

import dagster as dg

from prep_platform.defs.latents.assets import clip_latents
from prep_platform.defs.markdown import bullets
from prep_platform.defs.shard_assets import shard_asset_check
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.layout import sample_id_of
from prep_platform.lib.files.latent_file import latent_file_problems, latent_shape
from prep_platform.lib.frames.stage import read_frames_manifest
from prep_platform.lib.stages.latents import cached_variants, read_latents_manifest
from prep_platform.lib.statuses import OK


@shard_asset_check(
    asset=clip_latents,
    blocking=True,
    description="Every ok sample (window) of the shard has a readable cache whose shapes, dtype and header match the config, "
    "values finite and within bounds (no all-zero or garbage latents); at most the max_failed_share setting (default "
    "20%) of the ok samples without a cache.",
)
def clip_latents_files_check(settings: PrepPlatformSettings, scenario: str, shard: int) -> dg.AssetCheckResult:
    layout = settings.layout()
    frames = read_frames_manifest(layout.frames_manifest(scenario, shard))
    latents = read_latents_manifest(layout.latents_manifest(scenario, shard))
    if frames is None or latents is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "frames or latents manifest missing"})
    config = layout.frame_config
    # The channel count the encoder recorded from its own config (lib.models.vae.vae_config).
    channels = int(latents["settings"]["latent_channels"])
    expect = {
        "frames": config.frames,
        "fps": config.fps,
        "width": config.width,
        "height": config.height,
        "model_id": latents["settings"]["model_id"],
        "stored_dtype": "float16",
        "shape": latent_shape(config.frames, config.height, config.width, channels),
    }
    rows = latents["clips"]
    cached = cached_variants(latents)
    # A bad file always fails the check; clips that failed to encode fail it only above the threshold.
    file_problems = [p for variants in cached.values() for path in variants.values()
                     for p in latent_file_problems(path, expect=expect)]
    ok_samples = {sample_id_of(clip) for clip in frames["clips"] if clip["status"] == OK}
    uncovered = [
        f"{sample}: no cache file ({next((r['reason'] for r in rows if sample_id_of(r) == sample), 'not in the latents manifest')})"
        for sample in sorted(ok_samples) if "none" not in cached.get(sample, {})
    ]
    share = len(uncovered) / len(ok_samples) if ok_samples else 0.0
    problems = file_problems + uncovered
    return dg.AssetCheckResult(
        passed=not file_problems and share <= settings.max_failed_share,
        metadata={
            "files_checked": sum(len(variants) for variants in cached.values()),
            "bad_files": len(file_problems),
            "failed_share": round(share, 4),
            "problems": bullets(problems, 20),
        },
    )
