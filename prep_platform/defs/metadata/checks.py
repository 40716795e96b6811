"""Checks on the scenario metadata file as it is on disk."""


import json

import dagster as dg

from prep_platform.defs.metadata.assets import scenario_metadata
from prep_platform.defs.resources import PrepPlatformSettings
import pyarrow as pa

from prep_platform.lib.files.metadata_store import record_columns
from prep_platform.lib.stages.metadata import (
    clips_in_both_splits,
    scenario_clip_counts,
    store_schema_problems,
    validation_share_problems,
)
from prep_platform.lib.scenarios import DEFAULT_SCENARIOS, load_scenarios
from prep_platform.defs.markdown import bullets


# The whole-dataset checks read three short columns (a few bytes a record), or walk the records a shard at a time:
# their memory, like the stages', does not hold every record.
_COLUMNS = ["video_id", "split", "scenario"]


def _load(settings: PrepPlatformSettings) -> tuple[pa.Table | None, str]:
    path = settings.layout().metadata_file
    try:
        return record_columns(path, _COLUMNS), ""
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        return None, f"{path}: {exc}"


def _problem_list(problems: list[str]) -> dg.MetadataValue:
    return bullets(problems, 20)


@dg.asset_check(asset=scenario_metadata, blocking=True, description="The metadata JSON matches the trainer's schema.")
def scenario_metadata_schema_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    path = settings.layout().metadata_file
    try:
        problems, total = store_schema_problems(path)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        problems, total = [f"{path}: {exc}"], 1
    return dg.AssetCheckResult(passed=not total, metadata={"problems": total, "details": _problem_list(problems)})


@dg.asset_check(asset=scenario_metadata, blocking=True, description="No clip is in both train and validation.")
def scenario_metadata_split_disjoint_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    document, error = _load(settings)
    if document is None:
        return dg.AssetCheckResult(passed=False, metadata={"details": error})
    shared = clips_in_both_splits(document)
    return dg.AssetCheckResult(passed=not shared, metadata={"clips_in_both": len(shared), "details": _problem_list(shared)})


@dg.asset_check(
    asset=scenario_metadata,
    blocking=True,
    description="Per scenario, the validation share is within one clip of the configured ratio.",
)
def scenario_metadata_validation_share_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    document, error = _load(settings)
    report_path = settings.layout().metadata_report
    if document is None or not report_path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"details": error or f"{report_path} is missing"})
    ratio = json.loads(report_path.read_text())["settings"]["validation_ratio"]
    problems, table = validation_share_problems(document, ratio)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"validation_ratio": ratio, "per_scenario": dg.MetadataValue.json(table), "details": _problem_list(problems)},
    )


@dg.asset_check(
    asset=scenario_metadata, description=f"Each default scenario ({', '.join(DEFAULT_SCENARIOS)}) has clips."
)
def scenario_metadata_scenario_coverage_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    document, error = _load(settings)
    counts = scenario_clip_counts(document) if document is not None else {}
    empty = [name for name in DEFAULT_SCENARIOS if counts.get(name, 0) == 0]
    return dg.AssetCheckResult(
        passed=document is not None and not empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"clips_per_scenario": dg.MetadataValue.json(counts), "without_clips": ", ".join(empty) or error or "none"},
    )


@dg.asset_check(
    asset=scenario_metadata,
    description="Few labels are unsure: the share of labelled clips below the scenarios file's low_confidence stays "
    "at most max_low_confidence_share (the least confident clips are in the metadata).",
)
def scenario_metadata_label_confidence_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    report_path = settings.layout().metadata_report
    try:
        labelling = json.loads(report_path.read_text(encoding="utf-8"))["labelling"]
    except (OSError, ValueError, KeyError) as exc:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"details": f"{report_path}: no labelling summary ({exc})"})
    limit = load_scenarios(settings.core().scenarios_file).labelling.max_low_confidence_share
    share = labelling.get("low_confidence_share", 0.0)
    least = [f"{row['video_id']} ({row['scenario']}, {row['confidence']})" for row in labelling.get("least_confident", [])]
    return dg.AssetCheckResult(
        passed=share <= limit,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"low_confidence_share": share, "max_low_confidence_share": limit,
                  "low_confidence": labelling.get("low_confidence"), "least_confident": _problem_list(least)},
    )
