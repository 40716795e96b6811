"""Checks on VATEX and Panda-70M outputs as they are on disk."""

import json

import dagster as dg

from prep_platform.defs.raw.panda70m import panda70m_subset
from prep_platform.defs.raw.vatex import vatex_raw
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.sources.panda70m import NO_CSV_PRESENT, SUBSET_SCENARIOS
from prep_platform.lib.sources.vatex import NOT_CONFIGURED, VatexError, load_vatex_annotation

MIN_AVAILABLE_SHARE = 0.8  # ~10% of YouTube-sourced clips are gone; far more means a broken mirror
MIN_BALANCE = 0.8  # the smallest scenario must have at least this share of the largest


@dg.asset_check(asset=vatex_raw, blocking=True, description="The VATEX annotation matches its schema (videoID, enCap, chCap).")
def vatex_raw_annotation_schema_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    vatex = settings.layout().vatex
    report = json.loads(vatex.report.read_text()) if vatex.report.exists() else {}
    if report.get("state") == NOT_CONFIGURED:
        return _not_configured(report)
    manifest_path = vatex.manifest
    if not manifest_path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"problem": f"{manifest_path} is missing"})
    try:
        entries = load_vatex_annotation(json.loads(manifest_path.read_text())["annotation"])
    except VatexError as exc:
        return dg.AssetCheckResult(passed=False, metadata={"problem": str(exc)})
    return dg.AssetCheckResult(passed=True, metadata={"entries": len(entries)})


@dg.asset_check(
    asset=vatex_raw,
    description=f"At least {MIN_AVAILABLE_SHARE:.0%} of the requested VATEX clips are available (WARN).",
)
def vatex_raw_available_clips_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    report = json.loads(settings.layout().vatex.report.read_text())
    if report.get("state") == NOT_CONFIGURED:
        return _not_configured(report)
    share = report["available_share"]
    return dg.AssetCheckResult(
        passed=share is None or share >= MIN_AVAILABLE_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"available_share": -1.0 if share is None else share, "video_counts": report["video_counts"]},
    )


def _not_configured(report: dict) -> dg.AssetCheckResult:
    """A WARN, never an ERROR: an unset VATEX source must not block or fail a run of the training data."""
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN,
        description="VATEX is not configured",
        metadata={"state": NOT_CONFIGURED, "what_to_set": report.get("what_to_set", "")},
    )


def _subset_report(settings: PrepPlatformSettings) -> dict | None:
    path = settings.layout().panda.subset_report
    return json.loads(path.read_text()) if path.exists() else None


@dg.asset_check(
    asset=panda70m_subset,
    description="The subset spans urban, nature, transport and crowd, none empty and the smallest at least "
    f"{MIN_BALANCE:.0%} of the largest.",
)
def panda70m_subset_balance_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    report = _subset_report(settings)
    if report is None or report.get("state") == NO_CSV_PRESENT:
        # An empty subset is never a pass: the check says plainly that there was nothing to select from.
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, description="no Panda-70M CSV present",
            metadata={"state": NO_CSV_PRESENT, "what_to_do": (report or {}).get("what_to_do", "materialise panda70m_subset")},
        )
    counts = [report["per_scenario"].get(name, 0) for name in SUBSET_SCENARIOS]
    balanced = min(counts) > 0 and min(counts) >= MIN_BALANCE * max(counts)
    return dg.AssetCheckResult(
        passed=balanced,
        metadata={"per_scenario": report["per_scenario"], "quota_per_scenario": report["quota_per_scenario"]},
    )


@dg.asset_check(asset=panda70m_subset, description="The subset's download estimate fits the storage budget.")
def panda70m_subset_storage_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    report = _subset_report(settings)
    if report is None or report.get("state") == NO_CSV_PRESENT:
        return dg.AssetCheckResult(passed=True, metadata={"state": NO_CSV_PRESENT, "note": "nothing to download"})
    estimate = report["estimate"]["estimated_gb"]
    return dg.AssetCheckResult(
        passed=estimate <= settings.storage_budget_gb,
        metadata={"estimated_gb": estimate, "budget_gb": settings.storage_budget_gb,
                  "assumptions": report["estimate"]["assumptions"]},
    )
