"""Checks on the MSR-VTT raw folder: they re-read what is on disk, so a later corruption is caught too."""


import dagster as dg

from prep_platform.defs.raw.msr_vtt import msr_vtt_raw
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.source_files import ManifestError, manifest_file_problems, manifest_status_counts, read_manifest
from prep_platform.lib.sources.msr_vtt import AnnotationError, load_annotation
from prep_platform.lib.statuses import failed_share
from prep_platform.defs.markdown import bullets

@dg.asset_check(asset=msr_vtt_raw, blocking=True, description="The annotation file matches the MSR-VTT schema.")
def msr_vtt_raw_annotation_schema_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    path = settings.layout().msr_vtt.annotation
    try:
        annotation = load_annotation(path)
    except AnnotationError as exc:
        return dg.AssetCheckResult(passed=False, metadata={"path": str(path), "problems": str(exc)})
    return dg.AssetCheckResult(
        passed=True,
        metadata={"path": str(path), "videos": len(annotation["videos"]), "captions": len(annotation["sentences"])},
    )


@dg.asset_check(
    asset=msr_vtt_raw, blocking=True, description="Every manifest clip with status ok exists with its recorded size."
)
def msr_vtt_raw_clip_files_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    path = settings.layout().msr_vtt.manifest
    try:
        rows = read_manifest(path)
    except ManifestError as exc:
        return dg.AssetCheckResult(passed=False, metadata={"problems": str(exc)})
    problems = manifest_file_problems(rows)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "clips_ok": sum(row.status == "ok" for row in rows),
            "problems": len(problems),
            "first_problems": bullets(problems, 20),
        },
    )


@dg.asset_check(
    asset=msr_vtt_raw,
    description="At most settings.max_failed_share (default 20%) of the selected clips failed (missing, empty, "
    "truncated, too short...).",
)
def msr_vtt_raw_failed_clips_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    path = settings.layout().msr_vtt.manifest
    try:
        rows = read_manifest(path)
    except ManifestError as exc:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"problems": str(exc)})
    counts = manifest_status_counts(rows)
    failed = len(rows) - counts.get("ok", 0)
    share = failed_share(counts)
    return dg.AssetCheckResult(
        # No clip selected at all is its own failure: a download that found nothing is not a healthy one.
        passed=bool(rows) and share <= settings.max_failed_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"failed": failed, "clips": len(rows), "failed_share": round(share, 4), "status_counts": counts},
    )
