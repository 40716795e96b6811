"""Run the main job on the embedded sample, on CPU, offline: `sources_job` (downloads), `panda_ingest_job` (the
Panda-70M download shards), `metadata_job` (scenario metadata, evaluation prompts), then `latents_job` (frames, latents, training index, prompt embeddings) over every shard partition, in runs of
PREP_PLATFORM_SHARDS_PER_RUN shards as a backfill launches them, then `exports_job` for every trainer format;
every asset and check.

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


PROFILE_ENV = "PREP_PLATFORM_PROFILE"


def _prepare_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    repo_config = Path(__file__).resolve().parent.parent / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and repo_config.exists():
        shutil.copyfile(repo_config, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def main(argv: list[str] | None = None) -> int:
    from prep_platform.lib.profiles import PROFILES
    from prep_platform.lib.settings import PrepSettings

    # The settings' own defaults and PREP_PLATFORM_* variables (the main job's source defaults to the sample).
    defaults = PrepSettings.from_env(default_source="sample")
    from prep_platform.data_prep._cli import CliParser  # a mistyped option: one line with the closest valid one

    parser = CliParser(prog="prep_platform.main_job", description=__doc__.splitlines()[0], epilog=EXIT_STATUS_HELP)
    parser.add_argument("--data-root", default=defaults.data_root,
                        help="where the data goes ($PREP_PLATFORM_DATA_ROOT; default: %(default)s)")
    parser.add_argument("--source", default=defaults.msr_vtt_source,
                        help="MSR-VTT source: sample, hub or a local folder ($PREP_PLATFORM_MSR_VTT_SOURCE; default: "
                        "%(default)s)")
    parser.add_argument("--profile", default=defaults.profile, choices=tuple(PROFILES),
                        help="the model the data is prepared for (lib.profiles: its fps, frame rule, size multiple, VAE "
                        "and text encoder; its caches in folders of their own) ($PREP_PLATFORM_PROFILE; default: %(default)s)")
    args = parser.parse_args(argv)
    os.environ[PROFILE_ENV] = args.profile  # the code location and its step processes read it (--profile wins)
    _refuse_bad_settings(defaults, args)  # every PREP_PLATFORM_* value, before DAGSTER_HOME or any run
    home = _prepare_dagster_home()

    import dagster as dg  # after DAGSTER_HOME is set

    from prep_platform.lib.scenarios import ScenarioConfigError

    try:
        from prep_platform.definitions import build_definitions
        from prep_platform.defs.exports.assets import export_format_partitions
        from prep_platform.defs.partitions import partition_range_tags, shard_partitions, shard_run_ranges
        from prep_platform.defs.raw.panda70m import download_shard_partitions
        from prep_platform.defs.progress import PROGRESS_TO_STDERR_ENV
        from prep_platform.defs.resources import SOURCE_ENV, PrepPlatformSettings, TextEncoderResource, VaeResource
    except ScenarioConfigError as exc:  # a bad PREP_PLATFORM_SCENARIOS: one line, not an import traceback
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2

    os.environ[SOURCE_ENV] = args.source  # the frame size follows the source (--source wins over the variable)
    os.environ[PROGRESS_TO_STDERR_ENV] = "1"  # step processes inherit it: progress lines every ~10% on stderr
    from_env = PrepPlatformSettings.from_env()
    settings = PrepPlatformSettings(**{**from_env.model_dump(), "data_root": args.data_root, "msr_vtt_source": args.source})
    # The models of this data root and source. The source decides their presets: the job downloads from it before it
    # encodes, so `hub` on a data root made from the sample asks for the pretrained models (refused below if this
    # machine cannot have them), never the tiny ones the sample's report would pick.
    core = PrepSettings.from_env(default_source="sample", data_root=args.data_root, msr_vtt_source=args.source)
    vae, text_encoder = VaeResource.from_env(core), TextEncoderResource.from_env(core)
    from prep_platform.lib.models.hub_models import ModelUnavailable, refuse_if_unobtainable

    try:  # a pretrained model this machine cannot have: told now, not after the downloads and the metadata
        for model_settings in (vae.settings(), text_encoder.settings()):
            refuse_if_unobtainable(model_settings.hub_model(core.model()))
    except ModelUnavailable as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 3
    defs = build_definitions(settings, vae, text_encoder)
    ok = True
    with dg.DagsterInstance.get() as instance:
        def run(job_name: str, label: str | None = None, **target):
            print(f"running {job_name}{f'[{label}]' if label else ''} ...", flush=True)
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET_FAILURES, **target)
            return _summarise(result, job_name, label), result.success

        ok, succeeded = run("sources_job")
        downloads = instance.get_dynamic_partitions(download_shard_partitions.name)
        if succeeded and downloads:  # every download shard in one run (the ingest's backfill policy)
            shards_ok, succeeded = run("panda_ingest_job", f"{downloads[0]}...{downloads[-1]}",
                                       tags=partition_range_tags(downloads[0], downloads[-1]))
            ok &= shards_ok
        if succeeded:
            metadata_ok, succeeded = run("metadata_job")
            ok &= metadata_ok
        if succeeded:  # else nothing downstream can run
            # The shards scenario_metadata registered, in runs of several shards: what a backfill launches.
            for first, last in shard_run_ranges(instance.get_dynamic_partitions(shard_partitions.name)):
                ok &= run("latents_job", first if first == last else f"{first}...{last}",
                          tags=partition_range_tags(first, last))[0]
            for key in export_format_partitions.get_partition_keys():
                ok &= run("exports_job", key, partition_key=key)[0]
    verdict = "SUCCESS" if ok else "FAILURE (the failed steps are listed above; full errors in the Dagster event log)"
    print(f"\n{verdict}: runs recorded in DAGSTER_HOME={home}")
    return 0 if ok else 1


def _refuse_bad_settings(defaults, args: argparse.Namespace) -> None:
    """Every setting this job will run with, validated now (SettingsError or DeploymentSettingError: one line naming
    the variable, exit 2): the run settings with --data-root, --source and --profile (the profile's frame and size
    rules included), the source folders, the label model and the deployment settings. A bad value would otherwise fail
    every step of every run with the same line."""
    from prep_platform.lib.deployment import DeploymentSettings
    from prep_platform.lib.labelling.embedding import LABEL_MODEL_ENV, check_label_model
    from prep_platform.lib.settings import PrepSettings

    given = {name: value for name, value in (("data_root", args.data_root), ("msr_vtt_source", args.source),
                                             ("profile", args.profile))
             if value != getattr(defaults, name)}  # only what the options changed: the rest is named by its variable
    PrepSettings.from_env(default_source="sample", **given).check_local_sources()
    check_label_model(os.environ.get(LABEL_MODEL_ENV))
    DeploymentSettings.from_env()


EXIT_STATUS_HELP = ("exit status: 0 every run succeeded; 1 a step or an ERROR check failed (each listed); 2 bad "
                    "arguments or settings; 3 a pretrained model this machine can neither find nor download.")

# Dagster's console logger prints every event, a failed step's stack traces included (238 lines when the Hub
# was unreachable). Here the console shows a line as each run starts and a summary as it ends, with one line per
# failed step; the full log, traces included, stays in the event log (UI, `dagster debug`).
QUIET_FAILURES = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Dagster wraps a step's own exception in these; the user wants the inner message.
WRAPPER_ERRORS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"}

SUMMARY_KEYS = (
    "clips_ok", "clips_failed", "train", "validation", "excluded", "encoded", "skipped", "moved", "failed",
    "state", "video_counts", "available_share", "clips_selected", "rows_failed", "status_counts", "with_image",
    "distinct_prompts", "stems", "clips_reused",
)


def _summarise(result, job_name: str, partition: str | None) -> bool:
    label = job_name + (f"[{partition}]" if partition else "")
    print(f"\n{label} run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    # A run over several partitions materialises each of them with the same (summed) metadata: one line per asset.
    # Dagster emits a run's partitions (and parallel steps) in no fixed order: every list here is sorted, so two runs
    # of the same work print the same summary.
    partitions: dict[str, list[str]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        if name in partitions:
            partitions[name].append(materialization.partition)
            continue
        partitions[name] = [materialization.partition]
        metadata = materialization.metadata
        summary = {k: metadata[k].value for k in SUMMARY_KEYS if k in metadata}
        where = _where(metadata)
        partitions[name].insert(0, f"  materialised {name}: {summary}" + (f" -> {where}" if where else ""))
    for name in sorted(partitions):
        line, *keys = partitions[name]
        print(line)
        if len(keys) > 1:
            print(f"  ({name}: {len(keys)} partitions, {', '.join(sorted(map(str, keys)))})")
    failures = []
    for event in result.all_events:
        if event.is_step_failure:
            # One line per failed step; the stack trace stays in the event log (UI, `dagster debug`).
            error = event.event_specific_data.error
            while error is not None and error.cause is not None and error.cls_name in WRAPPER_ERRORS:
                error = error.cause
            lines = (error.message if error else "no error recorded").strip().splitlines() or [""]
            head, _, rest = lines[0].partition(": ")  # "package.module.ClassName: text" -> "ClassName: text"
            first = f"{head.rsplit('.', 1)[-1]}: {rest}" if rest and " " not in head else lines[0]
            failures.append(f"  step {event.step_key} FAILED: {first}")
    for line in sorted(failures):
        print(line)
    failed_error_checks = 0
    checks = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            severity = evaluation.severity.value
            verdict = "passed" if evaluation.passed else f"FAILED ({severity})"
            failed_error_checks += (not evaluation.passed) and severity == "ERROR"
            checks.append(f"  check {evaluation.check_name}: {verdict}")
    for line in sorted(checks):
        print(line)
    return result.success and not failed_error_checks


def _where(metadata) -> str:
    """Where a materialisation's output is: its file, else its shards, else the folder of its manifests (a run of
    Panda-70M download shards); "" when it names none."""
    path = metadata.get("manifest") or metadata.get("path") or metadata.get("subset_csv") or metadata.get("readme")
    if path:
        return str(path.value)
    if "shards" in metadata:
        return str(metadata["shards"].value)
    manifests = metadata["manifests"].value if "manifests" in metadata else None
    if manifests:
        folders = sorted({str(Path(m).parent) for m in manifests})
        return folders[0] if len(folders) == 1 else ", ".join(sorted(map(str, manifests)))
    return ""


def _main_or_one_line() -> int:
    """main(), with a setting the environment gives wrong (a PREP_PLATFORM_* variable, the scenarios file) told in
    one line and exit 2, not an import traceback."""
    from prep_platform.lib.deployment import DeploymentSettingError
    from prep_platform.lib.scenarios import ScenarioConfigError
    from prep_platform.lib.settings import SettingsError

    try:
        return main()
    except (SettingsError, DeploymentSettingError, ScenarioConfigError) as exc:
        print(f"prep_platform.main_job: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_main_or_one_line())
