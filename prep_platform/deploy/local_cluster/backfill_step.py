"""One step of a backfill (a test's, a benchmark's), on the instance in DAGSTER_HOME through the profile's executor,
printing one JSON line.

    python -m prep_platform.deploy.local_cluster.backfill_step prep [--in-process]
        sources_job, panda_ingest_job, metadata_job; prints the shard partitions scenario_metadata registered.
    python -m prep_platform.deploy.local_cluster.backfill_step FIRST LAST [--in-process]
        latents_job over the shards FIRST..LAST (one run of a multi-run backfill); prints, per step, the Celery worker
        that ran it and when it started and ended, and clip_latents' metadata. `--assets=a,b`: only those assets.
"""

import json
import sys
import time

import dagster as dg

from prep_platform.defs.partitions import partition_range_tags, shard_partitions
from prep_platform.deploy.local_cluster import recon_jobs

# The embedded sample's Panda-70M download shards (a folder and a webdataset tar), registered by sources_job.
PANDA_SAMPLE_SHARDS = {"dagster/asset_partition_range_start": "00000", "dagster/asset_partition_range_end": "00001.tar"}


def worker_of_steps(result) -> dict[str, str]:
    """step key -> the Celery worker that ran it, from the run's own events."""
    workers = {}
    for event in result.all_events:
        if event.event_type_value == "ENGINE_EVENT" and event.step_key:
            metadata = event.event_specific_data.metadata if event.event_specific_data else {}
            if "Celery worker" in metadata:
                workers[event.step_key] = str(metadata["Celery worker"].value)
    return workers


def _execute(factory, instance, tags: dict, in_process: bool, assets: list[str] | None = None) -> dict:
    started = time.perf_counter()
    selection = [dg.AssetKey(name) for name in assets] if assets else None
    if in_process:
        result = factory().execute_in_process(instance=instance, tags=tags, asset_selection=selection)
        return _report(result, instance, started, {})
    with dg.execute_job(dg.reconstructable(factory), instance=instance, tags=tags, asset_selection=selection) as result:
        return _report(result, instance, started, worker_of_steps(result))


def _report(result, instance, started: float, workers: dict) -> dict:
    intervals: dict[str, list[float]] = {}
    for entry in instance.all_logs(result.run_id):  # the event log's entries carry the times
        event = entry.dagster_event
        if event and event.step_key and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            intervals.setdefault(event.step_key, []).append(entry.timestamp)
    latents = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == "clip_latents":
            latents = {k: getattr(v, "value", v) for k, v in materialization.metadata.items() if k in ("model_loads", "encoded", "shards")}
    return {"success": result.success, "seconds": round(time.perf_counter() - started, 2), "workers": workers,
            "intervals": {step: [min(times), max(times)] for step, times in intervals.items()}, "clip_latents": latents}


def main(argv: list[str]) -> None:
    in_process = "--in-process" in argv
    assets = next((a.removeprefix("--assets=").split(",") for a in argv if a.startswith("--assets=")), None)
    args = [a for a in argv if a != "--in-process" and not a.startswith("--assets=")]
    with dg.DagsterInstance.get() as instance:
        if args[0] == "prep":
            runs = [_execute(recon_jobs.sources_job, instance, {}, in_process),
                    _execute(recon_jobs.panda_ingest_job, instance, PANDA_SAMPLE_SHARDS, in_process),
                    _execute(recon_jobs.metadata_job, instance, {}, in_process)]
            report = {"success": all(run["success"] for run in runs), "runs": runs,
                      "shards": instance.get_dynamic_partitions(shard_partitions.name)}
        else:
            report = _execute(recon_jobs.latents_job, instance, partition_range_tags(args[0], args[1]), in_process, assets)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
