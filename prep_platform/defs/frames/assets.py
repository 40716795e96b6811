"""Frame stage per shard of a scenario: resample by time, cover-crop, F-frame window, conditioning image per clip."""

import base64
from pathlib import Path

import cv2
import dagster as dg

from prep_platform.defs.markdown import bullets
from prep_platform.defs.metadata.assets import scenario_metadata
from prep_platform.defs.shard_assets import per_shard, shard_asset
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.lib import pipeline
from prep_platform.lib.shards import shard_key
from prep_platform.lib.statuses import DROPPED_STATUSES, OK, failure_count
from prep_platform.defs.table_schemas import column_schema_metadata
from prep_platform.lib.frames.stage import FrameRow


def embedded_image(path: Path, title: str, max_width: int = 480) -> dg.MetadataValue:
    """A PNG shown in the UI: Markdown metadata with the (downscaled) image inline, not a path to open elsewhere."""
    image = cv2.imread(str(path))
    if image is None:
        return dg.MetadataValue.md("no conditioning images")
    if image.shape[1] > max_width:
        height = max(1, round(image.shape[0] * max_width / image.shape[1]))
        image = cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)
    _, encoded = cv2.imencode(".png", image)
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(encoded.tobytes()).decode()})")


@shard_asset(
    op_tags=CPU_STEP_TAGS,
    group_name="frames",
    deps=[scenario_metadata],
    metadata=column_schema_metadata(FrameRow),  # the manifest's rows
    kinds={"python", "opencv"},
    description="Per clip of the shard (clips whose source, frame configuration, shot settings and images are unchanged "
    "are taken from the last run without decoding): decode once, find its shots (PySceneDetect's content/adaptive rules), "
    "resample by time to the target fps, scale to cover + center crop, up to windows_per_clip F-frame windows (the model profile's rule: 8n+1 for cogvideox) "
    "each inside one shot, a conditioning image per window (PNG under prepared/images/SCENARIO/FRAME_TAG/, e.g. prepared/images/urban/cogvideox_720x480_49f_8fps_1a2b3c4d/), "
    "and a record with source fps, decoded frame count, shots, window times and status.",
)
def clip_frames(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    prep, layout = settings.core(), settings.layout()
    config = layout.frame_config
    context.log.info(f"{config.profile}: {config.frames} frames at {config.fps:g} fps, {config.width}x{config.height}")
    return per_shard(context, lambda scenario, shard: _frames(context, prep, layout, scenario, shard))


def _frames(context: dg.AssetExecutionContext, prep, layout, scenario: str, shard: int) -> dict:
    config = layout.frame_config
    result = pipeline.prepare_frames(prep, layout, scenario, shard,
                                     progress=clip_progress_logger(context, "frames", shard=shard_key(scenario, shard)))
    counts = result.counts
    ok = result.samples
    failed = [clip for clip in result.clips if clip["status"] != OK and clip["status"] not in DROPPED_STATUSES]
    dropped = [clip for clip in result.clips if clip["status"] in DROPPED_STATUSES]
    windows = result.summary()
    sheet = layout.contact_sheet(scenario, shard)
    return {
        "dagster/row_count": len(ok),
        "manifest": dg.MetadataValue.path(str(layout.frames_manifest(scenario, shard))),
        "clips_ok": windows["clips_with_windows"],
        "clips_failed": failure_count(counts),
        "clips_reused": result.clips_reused,
        "status_counts": dg.MetadataValue.json(counts),
        "failed_clips": bullets(f"{c['video_id']}: {c['status']}: {c.get('reason', '')}" for c in failed),
        "dropped_clips": bullets(f"{c['video_id']}: {c['status']}: {c.get('reason', '')}" for c in dropped),
        "windows_taken": windows["windows_taken"],
        "clips_by_shot_count": dg.MetadataValue.json(windows["clips_by_shot_count"]),
        "clips_no_clean_window": windows["clips_no_clean_window"],
        "no_clean_window_share": windows["no_clean_window_share"],
        "windows_spanning_cuts": windows["windows_spanning_cuts"],
        "shot_detection": dg.MetadataValue.json(result.shot_settings.detection_record()),
        "window_policy": f"{result.shot_settings.window_policy}, up to {result.shot_settings.windows_per_clip} per clip, "
                         f"unclean: {result.shot_settings.unclean_window}",
        "frame_config_fingerprint": config.fingerprint(),
        "contact_sheet": embedded_image(sheet, f"contact sheet of {shard_key(scenario, shard)}"),
        "contact_sheet_path": dg.MetadataValue.path(str(sheet) if ok else "none"),
        "images_bytes": sum(Path(sample.image_path).stat().st_size for sample in ok),
        "cpu_s_per_clip": result.cpu_s_per_clip(),
        "duration_s": result.duration_s,
        "clips_per_s": round(len(result.clips) / max(result.duration_s, 1e-9), 2),
    }
