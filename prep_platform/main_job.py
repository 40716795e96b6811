"""Run the main job on the embedded sample, on CPU, offline: `prep_job` (download, metadata), then
`latents_job` (frames, latents, training index, prompt embeddings) for every scenario partition, then
`exports_job` for every trainer format; every asset and check.

    python -m prep_platform.main_job [--data-root data] [--source sample|hub|<folder>]

Runs are recorded in DAGSTER_HOME (default `./.dagster_home`, created with the repository's dagster.yaml), so
`DAGSTER_HOME=$PWD/.dagster_home dagster dev` shows them in the UI afterwards.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

DEFAULT_HOME = ".dagster_home"


def _prepare_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    repo_config = Path(__file__).resolve().parent.parent / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and repo_config.exists():
        shutil.copyfile(repo_config, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prep_platform.main_job", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("PREP_PLATFORM_DATA_ROOT", "data"))
    parser.add_argument("--source", default=os.environ.get("PREP_PLATFORM_MSR_VTT_SOURCE", "sample"))
    args = parser.parse_args(argv)
    home = _prepare_dagster_home()

    import dagster as dg  # after DAGSTER_HOME is set

    from prep_platform.lib.scenarios import ScenarioConfigError

    try:
        from prep_platform.definitions import build_definitions
        from prep_platform.defs.exports.assets import export_format_partitions
        from prep_platform.defs.partitions import scenario_partitions
        from prep_platform.defs.progress import PROGRESS_TO_STDERR_ENV
        from prep_platform.defs.resources import SOURCE_ENV, PrepPlatformSettings
    except ScenarioConfigError as exc:  # a bad PREP_PLATFORM_SCENARIOS: one line, not an import traceback
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2

    os.environ.setdefault(SOURCE_ENV, args.source)  # the VAE preset and frame size follow the source
    os.environ[PROGRESS_TO_STDERR_ENV] = "1"  # step processes inherit it: progress lines every ~10% on stderr
    from_env = PrepPlatformSettings.from_env()
    settings = PrepPlatformSettings(**{**from_env.model_dump(), "data_root": args.data_root, "msr_vtt_source": args.source})
    defs = build_definitions(settings)
    ok = True
    with dg.DagsterInstance.get() as instance:
        runs = [("prep_job", None)] + [("latents_job", key) for key in scenario_partitions.get_partition_keys()]
        runs += [("exports_job", key) for key in export_format_partitions.get_partition_keys()]
        for job_name, partition in runs:
            print(f"running {job_name}{f'[{partition}]' if partition else ''} ...", flush=True)
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance, partition_key=partition, raise_on_error=False, run_config=QUIET_FAILURES
            )
            ok &= _summarise(result, job_name, partition)
            if job_name == "prep_job" and not result.success:
                break  # nothing downstream can run
    verdict = "SUCCESS" if ok else "FAILURE (the failed steps are listed above; full errors in the Dagster event log)"
    print(f"\n{verdict}: runs recorded in DAGSTER_HOME={home}")
    return 0 if ok else 1


# Dagster's console logger prints every event, a failed step's stack traces included (238 lines when the Hub
# was unreachable). Here the console shows a line as each run starts and a summary as it ends, with one line per
# failed step; the full log, traces included, stays in the event log (UI, `dagster debug`).
QUIET_FAILURES = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Dagster wraps a step's own exception in these; the user wants the inner message.
WRAPPER_ERRORS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"}

SUMMARY_KEYS = (
    "clips_ok", "clips_failed", "train", "validation", "excluded", "encoded", "skipped", "moved", "failed",
    "state", "video_counts", "available_share", "clips_selected", "rows_failed", "status_counts", "with_image",
    "distinct_prompts", "stems",
)


def _summarise(result, job_name: str, partition: str | None) -> bool:
    label = job_name + (f"[{partition}]" if partition else "")
    print(f"\n{label} run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata = materialization.metadata
        summary = {k: metadata[k].value for k in SUMMARY_KEYS if k in metadata}
        path = metadata.get("manifest") or metadata.get("path") or metadata.get("subset_csv") or metadata.get("readme")
        print(f"  materialised {materialization.asset_key.to_user_string()}: {summary} -> {path.value if path else ''}")
    for event in result.all_events:
        if event.is_step_failure:
            # One line per failed step; the stack trace stays in the event log (UI, `dagster debug`).
            error = event.event_specific_data.error
            while error is not None and error.cause is not None and error.cls_name in WRAPPER_ERRORS:
                error = error.cause
            lines = (error.message if error else "no error recorded").strip().splitlines() or [""]
            head, _, rest = lines[0].partition(": ")  # "package.module.ClassName: text" -> "ClassName: text"
            first = f"{head.rsplit('.', 1)[-1]}: {rest}" if rest and " " not in head else lines[0]
            print(f"  step {event.step_key} FAILED: {first}")
    failed_error_checks = 0
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            severity = evaluation.severity.value
            verdict = "passed" if evaluation.passed else f"FAILED ({severity})"
            failed_error_checks += (not evaluation.passed) and severity == "ERROR"
            print(f"  check {evaluation.check_name}: {verdict}")
    return result.success and not failed_error_checks


if __name__ == "__main__":
    sys.exit(main())
