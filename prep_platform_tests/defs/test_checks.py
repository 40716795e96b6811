"""Assets and checks on a real Dagster instance: the sample run passes; each check fails on what it guards."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from prep_platform.definitions import build_definitions
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform_tests.support.dagster_results import run_prep


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    """One full run of the prep jobs (sources, ingest, metadata) on the sample, in a real (temporary) instance."""
    root = tmp_path_factory.mktemp("data")
    settings = PrepPlatformSettings(data_root=str(root), msr_vtt_source="sample")
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = run_prep(defs, instance)
        yield defs, settings, instance, result


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    evaluations = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            evaluations[data.check_name] = (data.passed, data.severity.value)
    return evaluations


def _run_checks(defs: dg.Definitions, instance, *names: str) -> dict[str, tuple[bool, str]]:
    graph = defs.resolve_asset_graph()
    keys = [key for key in graph.asset_check_keys if key.name in names]
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks(*keys))
    one_off = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    result = one_off.resolve_job_def("checks_only").execute_in_process(instance=instance, raise_on_error=False)
    return _check_results(result)


def test_sample_run_materialises_every_asset_and_passes_every_check(materialised):
    _, settings, instance, result = materialised
    assert result.success
    checks = _check_results(result)
    assert len(checks) == 14 and all(passed for passed, _ in checks.values()), checks
    raw = instance.get_latest_materialization_event(dg.AssetKey("msr_vtt_raw")).asset_materialization.metadata
    assert raw["clips_failed"].value == 4 and raw["clips_ok"].value >= 20
    assert raw["status_counts"].value == {"empty": 1, "missing": 1, "ok": raw["clips_ok"].value, "too_short": 1, "truncated": 1}
    assert "truncated" in raw["failed_clips"].value
    meta = instance.get_latest_materialization_event(dg.AssetKey("scenario_metadata")).asset_materialization.metadata
    # The sample's cooking and gaming clips read as other content; every label says how it was made.
    assert meta["excluded_by_reason"].value["other_content: cooking"] == 1
    assert meta["excluded_by_reason"].value["other_content: video game"] == 1
    assert meta["labeller"].value == "embedding" and meta["label_model"].value.startswith("all-MiniLM-L6-v2")
    assert sum(meta["label_distribution"].value.values()) == meta["train"].value + meta["validation"].value
    assert "| clip | scenario | confidence | votes |" in meta["least_confident_labels"].value
    assert meta["dagster/row_count"].value == meta["train"].value + meta["validation"].value
    assert Path(meta["path"].value).exists()


@pytest.fixture
def restore(materialised):
    """Files a test corrupts are put back afterwards, so tests stay independent."""
    saved: dict[Path, bytes] = {}

    def keep(path: Path) -> Path:
        saved.setdefault(path, path.read_bytes())
        return path

    yield keep
    for path, data in saved.items():
        path.write_bytes(data)


def test_clip_files_check_fails_when_a_clip_changes_size(materialised, restore):
    defs, settings, instance, _ = materialised
    clip = restore(settings.layout().msr_vtt.root / "train-video" / "video0.mp4")
    clip.write_bytes(clip.read_bytes()[:100])
    assert _run_checks(defs, instance, "msr_vtt_raw_clip_files_check") == {"msr_vtt_raw_clip_files_check": (False, "ERROR")}


def test_annotation_schema_check_fails_on_a_bad_annotation(materialised, restore):
    defs, settings, instance, _ = materialised
    path = restore(settings.layout().msr_vtt.root / "MSRVTT_data.json")
    data = json.loads(path.read_text())
    data["videos"][0]["category"] = 42
    path.write_text(json.dumps(data))
    assert _run_checks(defs, instance, "msr_vtt_raw_annotation_schema_check")["msr_vtt_raw_annotation_schema_check"][0] is False


def test_failed_clips_check_warns_above_the_threshold(materialised, restore):
    defs, settings, instance, _ = materialised
    path = restore(settings.layout().msr_vtt.root / "manifest.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [line.replace(",ok,", ",truncated,") for line in lines[1:]]) + "\n")
    assert _run_checks(defs, instance, "msr_vtt_raw_failed_clips_check") == {"msr_vtt_raw_failed_clips_check": (False, "WARN")}


def _rewrite_metadata(settings, restore, change) -> None:
    from prep_platform.lib.files.metadata_store import write_records
    from prep_platform.lib.stages.metadata import load_metadata_document, records

    path = restore(settings.layout().metadata_file)
    document = load_metadata_document(path)
    change(document)
    write_records(path, records(document))


def test_metadata_schema_check_fails_on_a_missing_field(materialised, restore):
    defs, settings, instance, _ = materialised
    _rewrite_metadata(settings, restore, lambda d: d["train"][0].pop("video_path"))
    assert _run_checks(defs, instance, "scenario_metadata_schema_check")["scenario_metadata_schema_check"][0] is False


def test_split_disjoint_check_fails_when_a_clip_is_in_both(materialised, restore):
    defs, settings, instance, _ = materialised
    _rewrite_metadata(settings, restore, lambda d: d["validation"].append(dict(d["train"][0], split="validation")))
    assert _run_checks(defs, instance, "scenario_metadata_split_disjoint_check")["scenario_metadata_split_disjoint_check"][0] is False


def test_validation_share_check_fails_when_a_scenario_is_off_ratio(materialised, restore):
    defs, settings, instance, _ = materialised

    def move_urban_to_validation(document):
        urban = [r for r in document["train"] if r["scenario"] == "urban"]
        document["train"] = [r for r in document["train"] if r["scenario"] != "urban"]
        document["validation"] += [dict(r, split="validation") for r in urban]

    _rewrite_metadata(settings, restore, move_urban_to_validation)
    result = _run_checks(defs, instance, "scenario_metadata_validation_share_check")
    assert result["scenario_metadata_validation_share_check"] == (False, "ERROR")


def test_scenario_coverage_check_warns_when_a_default_scenario_is_empty(materialised, restore):
    defs, settings, instance, _ = materialised

    def drop_crowd(document):
        for split in ("train", "validation"):
            document[split] = [r for r in document[split] if r["scenario"] != "crowd"]

    _rewrite_metadata(settings, restore, drop_crowd)
    result = _run_checks(defs, instance, "scenario_metadata_scenario_coverage_check")
    assert result == {"scenario_metadata_scenario_coverage_check": (False, "WARN")}


def test_panda_storage_check_fails_when_the_estimate_exceeds_the_budget(materialised):
    defs, settings, instance, _ = materialised
    tight = build_definitions(PrepPlatformSettings(data_root=settings.data_root, msr_vtt_source="sample", storage_budget_gb=0.001))
    result = _run_checks(tight, instance, "panda70m_subset_storage_check")
    assert result == {"panda70m_subset_storage_check": (False, "ERROR")}


def test_panda_balance_check_fails_on_an_unbalanced_subset(materialised, restore):
    defs, settings, instance, _ = materialised
    path = restore(settings.layout().panda.root / "panda70m_subset_report.json")
    report = json.loads(path.read_text())
    report["per_scenario"]["crowd"] = 0
    path.write_text(json.dumps(report))
    assert _run_checks(defs, instance, "panda70m_subset_balance_check")["panda70m_subset_balance_check"][0] is False


def test_vatex_available_clips_check_warns_when_the_mirror_lacks_clips(materialised, restore):
    defs, settings, instance, _ = materialised
    path = restore(settings.layout().vatex.root / "download_report.json")
    report = json.loads(path.read_text())
    report["available_share"] = 0.5
    path.write_text(json.dumps(report))
    assert _run_checks(defs, instance, "vatex_raw_available_clips_check") == {"vatex_raw_available_clips_check": (False, "WARN")}


def test_vatex_schema_check_fails_on_a_bad_annotation(materialised, restore):
    defs, settings, instance, _ = materialised
    path = restore(settings.layout().vatex.root / "vatex_validation_v1.0.json")
    path.write_text(json.dumps([{"videoID": "no-times-here", "enCap": ["x"]}]))
    assert _run_checks(defs, instance, "vatex_raw_annotation_schema_check")["vatex_raw_annotation_schema_check"][0] is False


def test_free_space_check_warns_under_the_reserve(materialised):
    defs, settings, instance, _ = materialised
    greedy = build_definitions(PrepPlatformSettings(data_root=settings.data_root, msr_vtt_source="sample",
                                                    free_space_reserve_gb=1e9))
    assert _run_checks(greedy, instance, "storage_free_space_check") == {"storage_free_space_check": (False, "WARN")}


def test_budget_check_warns_when_a_layer_is_over_budget(materialised):
    defs, settings, instance, _ = materialised
    tight = build_definitions(PrepPlatformSettings(data_root=settings.data_root, msr_vtt_source="sample", budget_raw_gb=0.0001))
    assert _run_checks(tight, instance, "storage_budgets_check") == {"storage_budgets_check": (False, "WARN")}
