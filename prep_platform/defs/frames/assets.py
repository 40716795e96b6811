"""Frame stage per scenario: resample by time, cover-crop, F-frame window, conditioning image per clip."""

import base64

import cv2
import dagster as dg

from prep_platform.defs.automation.schedules import downstream_automation

from prep_platform.defs.metadata.assets import scenario_metadata
from prep_platform.defs.partitions import scenario_partitions
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings
from pathlib import Path

from prep_platform.lib.frames import contact_sheet
from prep_platform.lib.metadata import load_metadata_document, records
from prep_platform.lib.prepare import FRAMES_MANIFEST, run_frame_stage, write_frames_manifest
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.markdown import bullets


def embedded_image(path: Path | None, title: str, max_width: int = 480) -> dg.MetadataValue:
    """A PNG shown in the UI: Markdown metadata with the (downscaled) image inline, not a path to open elsewhere."""
    if path is None:
        return dg.MetadataValue.md("no conditioning images")
    image = cv2.imread(str(path))
    if image.shape[1] > max_width:
        height = max(1, round(image.shape[0] * max_width / image.shape[1]))
        image = cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)
    _, encoded = cv2.imencode(".png", image)
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(encoded.tobytes()).decode()})")


def partition_records(settings: PrepPlatformSettings, scenario: str) -> list[dict]:
    """The metadata records (train and validation) of one scenario."""
    document = load_metadata_document(settings.scenario_metadata_path)
    return [record for record in records(document) if record["scenario"] == scenario]


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="frames",
    deps=[scenario_metadata],
    partitions_def=scenario_partitions,
    kinds={"python", "opencv"},
    owners=["team:data-prep"],
    automation_condition=downstream_automation(),
    description="Per clip of the scenario: decode, resample by time to the target fps, scale to cover + center "
    "crop, an F-frame window (8N+1), the conditioning image (PNG under prepared/images/<scenario>/<frame config tag>/), and a record with "
    "source fps, decoded frame count, window times and status.",
)
def clip_frames(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    scenario = context.partition_key
    clips = partition_records(settings, scenario)
    config = settings.frame_config()
    context.log.info(f"{len(clips)} clips, {config.frames} frames at {config.fps:g} fps, {config.width}x{config.height}")
    result = run_frame_stage(
        clips, config, images_root=settings.images_root(), latents_root=settings.latents_root(),
        workers=settings.workers, progress=clip_progress_logger(context, "frames"),
    )
    manifest = settings.frames_dir(scenario) / FRAMES_MANIFEST
    write_frames_manifest(manifest, result, scenario)
    counts = result.counts
    failed = [clip for clip in result.clips if clip["status"] != "ok"]
    sheet = contact_sheet(
        [(c["video_id"], c["image_path"]) for c in result.clips if c["status"] == "ok"][:16],
        settings.frames_dir(scenario) / "contact_sheet.png",
    )
    images_bytes = sum(Path(c["image_path"]).stat().st_size for c in result.clips if c["status"] == "ok")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.clips),
            "manifest": dg.MetadataValue.path(str(manifest)),
            "clips_ok": counts.get("ok", 0),
            "clips_failed": len(failed),
            "status_counts": dg.MetadataValue.json(counts),
            "failed_clips": bullets(f"{c['video_id']}: {c['status']}: {c.get('reason', '')}" for c in failed),
            "frame_config_fingerprint": config.fingerprint(),
            "contact_sheet": embedded_image(sheet, f"contact sheet of {scenario}"),
            "contact_sheet_path": dg.MetadataValue.path(str(sheet) if sheet else "none"),
            "images_bytes": images_bytes,
            "cpu_s_per_clip": round(sum(c.get("cpu_s", 0.0) for c in result.clips) / max(len(result.clips), 1), 4),
            "duration_s": result.duration_s,
            "clips_per_s": round(len(result.clips) / max(result.duration_s, 1e-9), 2),
        }
    )
