"""Reading an in-process Dagster run's result in tests: check verdicts, an asset's materialisation metadata, and
the sample pipeline (sources, Panda-70M ingest and metadata on the embedded sample at a small frame size) that the
Dagster tests share."""

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


class PrepRuns:
    """The runs of run_prep read as one: success, events and materialisations of all of them."""

    def __init__(self, results: list):
        self.results = results

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results)

    @property
    def all_events(self) -> list:
        return [event for result in self.results for event in result.all_events]

    def get_asset_materialization_events(self) -> list:
        return [event for result in self.results for event in result.get_asset_materialization_events()]


def run_prep(defs: dg.Definitions, instance, **kwargs) -> PrepRuns:
    """What the main job runs before the shards of work: sources_job, panda_ingest_job over every download shard
    (one run), metadata_job. Stops after a failed run, as the main job does."""
    from prep_platform.defs.partitions import partition_range_tags
    from prep_platform.defs.raw.panda70m import download_shard_partitions

    results = [defs.resolve_job_def("sources_job").execute_in_process(instance=instance, **kwargs)]
    downloads = instance.get_dynamic_partitions(download_shard_partitions.name)
    if results[-1].success and downloads:
        results.append(defs.resolve_job_def("panda_ingest_job").execute_in_process(
            instance=instance, tags=partition_range_tags(downloads[0], downloads[-1]), **kwargs))
    if results[-1].success:
        results.append(defs.resolve_job_def("metadata_job").execute_in_process(instance=instance, **kwargs))
    return PrepRuns(results)


def sample_pipeline(root):
    """Yields (definitions, settings, instance) after run_prep ran on the sample into `root`."""
    settings = PrepPlatformSettings(data_root=str(root), msr_vtt_source="sample", frame_size="144x96", frames=9, workers=1)
    defs = build_definitions(settings, VaeResource(preset="tiny"), TextEncoderResource(preset="tiny"))
    with dg.instance_for_test() as instance:
        assert run_prep(defs, instance).success
        yield defs, settings, instance
