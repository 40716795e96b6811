"""Reading an in-process Dagster run's result in tests: check verdicts, an asset's materialisation metadata, and
the sample pipeline (prep_job on the embedded sample at a small frame size) that the Dagster tests share."""

from __future__ import annotations

import dagster as dg

from prep_platform.definitions import build_definitions
from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource, VaeResource


def check_verdicts(result) -> dict[str, tuple[bool, str]]:
    """{check name: (passed, severity)} of every check the run evaluated."""
    return {
        e.event_specific_data.check_name: (e.event_specific_data.passed, e.event_specific_data.severity.value)
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def materialization_metadata(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"{asset} not materialised")


def sample_pipeline(root):
    """Yields (definitions, settings, instance) after prep_job ran on the sample into `root`."""
    settings = PrepPlatformSettings(data_root=str(root), msr_vtt_source="sample", frame_size="144x96", frames=9, workers=1)
    defs = build_definitions(settings, VaeResource(preset="tiny"), TextEncoderResource(preset="tiny"))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("prep_job").execute_in_process(instance=instance).success
        yield defs, settings, instance
