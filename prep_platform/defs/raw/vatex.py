"""VATEX download: annotation and, optionally, clips from a video mirror with a status per clip."""

import dagster as dg

from prep_platform.defs.markdown import bullets
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.resources import PrepPlatformSettings, run_config_class, run_settings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.versioning import file_data_version
from prep_platform.lib import pipeline
from prep_platform.lib.sources.vatex import NOT_CONFIGURED, read_json_report
from prep_platform.samples import DEMO_SAMPLE

VatexRawConfig = run_config_class(
    "VatexRawConfig", "vatex_split", "vatex_limit", "vatex_download_videos", "vatex_retry_failed", "vatex_video_prefix",
)


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="raw",
    kinds={"python", "huggingface"},
    owners=["team:data-prep"],
    description="VATEX annotation for a split (English and Chinese captions) and, from a video mirror, the clips: "
    "ok, unavailable (not in the mirror) or failed (with reason); retry_failed re-attempts only failures.",
)
def vatex_raw(context: dg.AssetExecutionContext, config: VatexRawConfig, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    prep = run_settings(settings, config)
    layout = prep.layout()
    result = pipeline.fetch_vatex(prep, layout, sample=DEMO_SAMPLE, progress=clip_progress_logger(context, "vatex clips"))
    if result is None:
        # VATEX has no canonical Hub repo: an unset one is a state to report (and warn about), not a failed run.
        context.log.warning(f"VATEX is not configured: {pipeline.VATEX_NOT_CONFIGURED_HINT}")
        metadata = {"state": NOT_CONFIGURED, "what_to_set": pipeline.VATEX_NOT_CONFIGURED_HINT, "dagster/row_count": 0}
        kept = read_json_report(layout.vatex.report)
        if kept and kept.get("state") != NOT_CONFIGURED:  # an earlier download stays as it was (lib.sources.vatex)
            source = (kept.get("provenance") or {}).get("source", "?")
            context.log.warning(f"the earlier VATEX download in {layout.vatex.root} (source {source}) is kept as it was")
            metadata["kept_earlier_download"] = dg.MetadataValue.path(str(layout.vatex.root))
            metadata["kept_earlier_source"] = str(source)
        return dg.MaterializeResult(metadata=metadata)
    report = result.report
    failures = [c for c in result.clips if c["video_status"] in ("failed", "unavailable")]
    return dg.MaterializeResult(
        data_version=file_data_version(layout.vatex.manifest, result.annotation_path),
        metadata={
            "dagster/row_count": len(result.clips),
            "manifest": dg.MetadataValue.path(str(layout.vatex.manifest)),
            "annotation": dg.MetadataValue.path(str(result.annotation_path)),
            "video_counts": dg.MetadataValue.json(result.video_counts),
            "available_share": report["available_share"] if report["available_share"] is not None else -1.0,
            "storage_bytes": report["storage_bytes"],
            "missing_clips": bullets((f"{c['video_id']}: {c['video_status']}: {c['reason']}" for c in failures), 50),
        }
    )
