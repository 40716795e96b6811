"""The real definitions: asset graph (keys, dependencies, groups, kinds), checks, jobs, resources."""

from __future__ import annotations

import dagster as dg

from prep_platform.definitions import defs


def _graph():
    return defs.resolve_asset_graph()


def test_asset_keys_and_groups():
    graph = _graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"msr_vtt_raw": "raw", "scenario_metadata": "metadata"}


def test_dependencies():
    graph = _graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents == {"msr_vtt_raw": set(), "scenario_metadata": {"msr_vtt_raw"}}


def test_kinds_and_owners():
    graph = _graph()
    raw = graph.get(dg.AssetKey("msr_vtt_raw"))
    assert {"python", "huggingface"} <= set(raw.kinds)
    assert raw.owners == ["team:data-prep"]


def test_checks_per_asset_and_blocking():
    graph = _graph()
    checks = {}
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        checks[spec.name] = (spec.asset_key.to_user_string(), spec.blocking)
    assert checks == {
        "msr_vtt_raw_annotation_schema_check": ("msr_vtt_raw", True),
        "msr_vtt_raw_clip_files_check": ("msr_vtt_raw", True),
        "msr_vtt_raw_failed_clips_check": ("msr_vtt_raw", False),
        "scenario_metadata_schema_check": ("scenario_metadata", True),
        "scenario_metadata_split_disjoint_check": ("scenario_metadata", True),
        "scenario_metadata_validation_share_check": ("scenario_metadata", True),
        "scenario_metadata_scenario_coverage_check": ("scenario_metadata", False),
    }


def test_main_job_selects_every_asset():
    job = defs.resolve_job_def("prep_job")
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert selected == {"msr_vtt_raw", "scenario_metadata"}


def test_settings_resource_defaults_to_the_offline_sample(monkeypatch):
    from prep_platform.definitions import build_definitions

    monkeypatch.delenv("PREP_PLATFORM_MSR_VTT_SOURCE", raising=False)
    assert build_definitions().resources["settings"].msr_vtt_source == "sample"
    monkeypatch.setenv("PREP_PLATFORM_MSR_VTT_SOURCE", "hub")
    assert build_definitions().resources["settings"].msr_vtt_source == "hub"


def test_definitions_validate():
    dg.Definitions.validate_loadable(defs)


def test_dg_check_defs_passes_from_the_repository_root():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    dg_cli = Path(sys.executable).parent / "dg"
    result = subprocess.run([str(dg_cli), "check", "defs"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr
