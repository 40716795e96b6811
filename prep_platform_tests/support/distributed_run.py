"""Runs sources_job, panda_ingest_job (the sample's download shards), metadata_job, then latents_job[<partition>]
through whatever executor the profile gives, on the instance in DAGSTER_HOME, and prints one JSON line: per step,
the Celery worker that ran it (from the run's own events)."""

import json
import sys
import time

import dagster as dg

from prep_platform.deploy.local_cluster import recon_jobs
from prep_platform.deploy.local_cluster.backfill_step import PANDA_SAMPLE_SHARDS, worker_of_steps


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
