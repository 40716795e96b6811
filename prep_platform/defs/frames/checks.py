"""Checks on a scenario's frame stage output."""

import cv2
import dagster as dg

from prep_platform.defs.frames.assets import clip_frames
from prep_platform.defs.markdown import bullets
from prep_platform.defs.partitions import scenario_asset_check
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.stages.frames import read_frames_manifest
from prep_platform.lib.statuses import OK, failed_share, status_counts


@scenario_asset_check(
    asset=clip_frames,
    blocking=True,
    description="Every ok clip has its conditioning PNG at the configured size, and at most "
    "the configured share (settings.max_failed_share, default 20%) of the scenario's clips failed.",
)
def clip_frames_images_check(context: dg.AssetCheckExecutionContext, settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    layout = settings.layout()
    manifest = read_frames_manifest(layout.frames_manifest(context.partition_key))
    if manifest is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "frames manifest missing"})
    config = layout.frame_config
    problems = []
    for clip in manifest["clips"]:
        if clip["status"] != OK:
            continue
        image = cv2.imread(clip["image_path"])
        if image is None:
            problems.append(f"{clip['video_id']}: {clip['image_path']} missing or unreadable")
        elif image.shape[:2] != (config.height, config.width):
            problems.append(f"{clip['video_id']}: image is {image.shape[1]}x{image.shape[0]}, expected {config.width}x{config.height}")
    clips = manifest["clips"]
    share = failed_share(status_counts(clip["status"] for clip in clips))
    if share > settings.max_failed_share:
        failed = sum(clip["status"] != OK for clip in clips)
        problems.append(f"{failed} of {len(clips)} clips failed ({share:.0%} > {settings.max_failed_share:.0%})")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"failed_share": round(share, 4), "problems": bullets(problems, 20)},
    )
