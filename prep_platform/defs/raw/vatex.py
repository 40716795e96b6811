"""VATEX download: annotation and, optionally, clips from a video mirror with a status per clip."""

import dagster as dg

from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.vatex import (
    MANIFEST_FILE,
    NOT_CONFIGURED,
    VatexSourceConfig,
    download_vatex,
    write_not_configured,
)
from prep_platform.defs.versioning import file_data_version
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.markdown import bullets


NOT_CONFIGURED_HINT = (
    "set PREP_PLATFORM_VATEX_REPO to a dataset repo holding the VATEX annotation files (and "
    "PREP_PLATFORM_VATEX_VIDEO_REPO to a mirror holding <videoID>.mp4), or PREP_PLATFORM_VATEX_SOURCE to 'sample' "
    "or a local folder laid out like such a repo"
)


class VatexRawConfig(dg.Config):
    split: str = "validation"
    limit: int = 50
    download_videos: bool = True
    retry_failed: bool = False
    video_prefix: str = "videos/"


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="raw",
    kinds={"python", "huggingface"},
    owners=["team:data-prep"],
    description="VATEX annotation for a split (English and Chinese captions) and, from a video mirror, the clips: "
    "ok, unavailable (not in the mirror) or failed (with reason); retry_failed re-attempts only failures.",
)
def vatex_raw(context: dg.AssetExecutionContext, config: VatexRawConfig, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    source_name = settings.vatex_source or ("sample" if settings.msr_vtt_source == "sample" else "hub")
    if source_name == "hub" and not settings.vatex_repo_id:
        # VATEX has no canonical Hub repo: an unset one is a state to report (and warn about), not a failed run.
        write_not_configured(settings.vatex_dir, NOT_CONFIGURED_HINT)
        context.log.warning(f"VATEX is not configured: {NOT_CONFIGURED_HINT}")
        return dg.MaterializeResult(
            metadata={"state": NOT_CONFIGURED, "what_to_set": NOT_CONFIGURED_HINT, "dagster/row_count": 0}
        )
    source = VatexSourceConfig(
        source=source_name,
        repo_id=settings.vatex_repo_id,
        video_repo_id=settings.vatex_video_repo_id,
        video_prefix=config.video_prefix,
    )
    result = download_vatex(
        settings.vatex_dir, config=source, split=config.split, limit=config.limit or None,
        download_videos=config.download_videos, retry_failed=config.retry_failed,
        progress=clip_progress_logger(context, "vatex clips"),
    )
    report = result.report
    failures = [c for c in result.clips if c["video_status"] in ("failed", "unavailable")]
    return dg.MaterializeResult(
        data_version=file_data_version(settings.vatex_dir / MANIFEST_FILE, result.annotation_path),
        metadata={
            "dagster/row_count": len(result.clips),
            "manifest": dg.MetadataValue.path(str(settings.vatex_dir / MANIFEST_FILE)),
            "annotation": dg.MetadataValue.path(str(result.annotation_path)),
            "video_counts": dg.MetadataValue.json(result.video_counts),
            "available_share": report["available_share"] if report["available_share"] is not None else -1.0,
            "storage_bytes": report["storage_bytes"],
            "missing_clips": bullets((f"{c['video_id']}: {c['video_status']}: {c['reason']}" for c in failures), 50),
        }
    )
