"""Blocking vs WARN checks and declarative automation on a real instance."""

from __future__ import annotations

import dagster as dg

from prep_platform.definitions import build_definitions
from prep_platform.defs.resources import PrepPlatformSettings, VaeResource
from prep_platform_tests.support.dagster_results import run_prep


def _settings(root, **overrides) -> PrepPlatformSettings:
    return PrepPlatformSettings(data_root=str(root), msr_vtt_source="sample", frame_size="144x96", frames=9, workers=0, **overrides)


def test_a_failing_warn_check_does_not_block_downstream(tmp_path):
    # Any failed clip is now too many: the WARN check on msr_vtt_raw fails, scenario_metadata still runs.
    defs = build_definitions(_settings(tmp_path, max_failed_share=0.0), VaeResource(preset="tiny"))
    with dg.instance_for_test() as instance:
        result = run_prep(defs, instance, raise_on_error=False)
    evaluations = {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    failed_clips = evaluations["msr_vtt_raw_failed_clips_check"]
    assert not failed_clips.passed and failed_clips.severity == dg.AssetCheckSeverity.WARN
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "scenario_metadata" in materialised and result.success


def test_a_refreshed_raw_asset_makes_metadata_stale_and_automation_requests_it(tmp_path):
    defs = build_definitions(_settings(tmp_path), VaeResource(preset="tiny"))
    selection = dg.AssetSelection.assets("scenario_metadata")
    with dg.instance_for_test() as instance:
        assert run_prep(defs, instance).success
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                    cursor=settled.cursor)
        assert settled.total_requested == 0  # everything is current

        # A refresh that changes the raw data (fewer clips) gives msr_vtt_raw a new data version...
        raw_only = dg.define_asset_job("raw_only", selection=["msr_vtt_raw"])
        refreshed = dg.Definitions.merge(defs, dg.Definitions(jobs=[raw_only])).resolve_job_def("raw_only")
        run_config = {"ops": {"msr_vtt_raw": {"config": {"msr_vtt_limit": 12}}}}
        assert refreshed.execute_in_process(instance=instance, run_config=run_config).success

        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                  cursor=settled.cursor)
        # ...and, its blocking checks having passed, scenario_metadata is requested.
        assert after.total_requested == 1
        assert after.get_requested_partitions(dg.AssetKey("scenario_metadata")) == {None}
