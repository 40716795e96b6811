"""Checks on a scenario's frame stage output."""

import cv2
import dagster as dg

from prep_platform.defs.frames.assets import clip_frames
from prep_platform.defs.markdown import bullets
from prep_platform.defs.shard_assets import shard_asset_check
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.layout import sample_id_of
from prep_platform.lib.frames.stage import clip_statuses, read_frames_manifest, window_summary
from prep_platform.lib.statuses import NO_CLEAN_WINDOW, OK, failed_share, failure_count, status_counts


@shard_asset_check(
    asset=clip_frames,
    blocking=True,
    description="Every ok sample (window) has its conditioning PNG at the configured size, and at most "
    "the configured share (the max_failed_share setting, default 20%) of the shard's clips failed (clips dropped for "
    "no_clean_window are not failures: clip_frames_windows_check watches them).",
)
def clip_frames_images_check(settings: PrepPlatformSettings, scenario: str, shard: int) -> dg.AssetCheckResult:
    layout = settings.layout()
    manifest = read_frames_manifest(layout.frames_manifest(scenario, shard))
    if manifest is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "frames manifest missing"})
    config = layout.frame_config
    problems = []
    for clip in manifest["clips"]:
        if clip["status"] != OK:
            continue
        image = cv2.imread(clip["image_path"])
        if image is None:
            problems.append(f"{sample_id_of(clip)}: {clip['image_path']} missing or unreadable")
        elif image.shape[:2] != (config.height, config.width):
            problems.append(f"{sample_id_of(clip)}: image is {image.shape[1]}x{image.shape[0]}, expected {config.width}x{config.height}")
    counts = status_counts(clip_statuses(manifest["clips"]).values())
    share = failed_share(counts)
    if share > settings.max_failed_share:
        problems.append(f"{failure_count(counts)} of {sum(counts.values())} clips failed "
                        f"({share:.0%} > {settings.max_failed_share:.0%})")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"failed_share": round(share, 4), "problems": bullets(problems, 20)},
    )


@shard_asset_check(
    asset=clip_frames,
    description="Shot-aware windows: WARN when more than settings.max_no_clean_window_share (default 30%) of the "
    "shard's clips were dropped because no shot holds a window (no_clean_window), with the shot lengths of the "
    "first of them; counts of clips by number of shots and windows taken.",
)
def clip_frames_windows_check(settings: PrepPlatformSettings, scenario: str, shard: int) -> dg.AssetCheckResult:
    manifest = read_frames_manifest(settings.layout().frames_manifest(scenario, shard))
    if manifest is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"problem": "frames manifest missing"})
    summary = window_summary(manifest["clips"])
    dropped = [clip for clip in manifest["clips"] if clip["status"] == NO_CLEAN_WINDOW]
    share = summary["no_clean_window_share"]
    return dg.AssetCheckResult(
        passed=share <= settings.max_no_clean_window_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "no_clean_window_share": share,
            "threshold": settings.max_no_clean_window_share,
            "clips_no_clean_window": summary["clips_no_clean_window"],
            "windows_taken": summary["windows_taken"],
            "clips_by_shot_count": dg.MetadataValue.json(summary["clips_by_shot_count"]),
            "shot_detection": dg.MetadataValue.json(manifest.get("shot_detection", {})),
            "dropped_clips": bullets((f"{clip['video_id']}: {clip['reason']}" for clip in dropped), 20),
        },
    )
