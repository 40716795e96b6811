"""Runs sources_job, panda_ingest_job (the sample's download shards), metadata_job, then latents_job[<partition>]
through whatever executor the profile gives, on the instance in DAGSTER_HOME, and prints one JSON line: per step,
the Celery worker that ran it (from the run's own events)."""

import json
import sys
import time

import dagster as dg

from prep_platform_tests.support import recon_jobs


def worker_of_steps(result) -> dict[str, str]:
    workers = {}
    for event in result.all_events:
        if event.event_type_value == "ENGINE_EVENT" and event.step_key:
            metadata = event.event_specific_data.metadata if event.event_specific_data else {}
            if "Celery worker" in metadata:
                workers[event.step_key] = str(metadata["Celery worker"].value)
    return workers


# The embedded sample's Panda-70M download shards (a folder and a webdataset tar), registered by sources_job.
PANDA_SAMPLE_SHARDS = {"dagster/asset_partition_range_start": "00000", "dagster/asset_partition_range_end": "00001.tar"}


def main(partition: str, in_process: bool) -> None:
    report = {"runs": []}
    with dg.DagsterInstance.get() as instance:
        for factory, tags in ((recon_jobs.sources_job, {}), (recon_jobs.panda_ingest_job, PANDA_SAMPLE_SHARDS),
                              (recon_jobs.metadata_job, {}), (recon_jobs.latents_job, {"dagster/partition": partition})):
            started = time.perf_counter()
            if in_process:  # one process, no executor: the baseline the Celery path is compared with
                result = factory().execute_in_process(instance=instance, tags=tags)
                report["runs"].append({"job": result.job_def.name, "success": result.success,
                                       "seconds": round(time.perf_counter() - started, 2)})
                continue
            with dg.execute_job(dg.reconstructable(factory), instance=instance, tags=tags) as result:
                report["runs"].append({
                    "job": result.job_def.name,
                    "success": result.success,
                    "seconds": round(time.perf_counter() - started, 2),
                    "workers": worker_of_steps(result),
                    "steps": sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}),
                    "step_starts": [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"],
                })
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], in_process="--in-process" in sys.argv)
