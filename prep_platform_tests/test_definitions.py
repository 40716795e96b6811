"""The real definitions: asset graph (keys, dependencies, groups, kinds), checks, jobs, resources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from prep_platform.definitions import defs
from prep_platform.defs.partitions import shard_partitions


def _graph():
    return defs.resolve_asset_graph()


def test_asset_keys_and_groups():
    graph = _graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "msr_vtt_raw": "raw",
        "vatex_raw": "raw",
        "panda70m_instructions": "raw",
        "panda70m_subset": "raw",
        "panda70m_shards": "raw",
        "scenario_metadata": "metadata",
        "vatex_eval_prompts": "eval",
        "clip_frames": "frames",
        "clip_latents": "latents",
        "training_index": "latents",
        "prompt_embeddings": "prompts",
        "training_exports": "exports",
    }


def test_dependencies():
    graph = _graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "msr_vtt_raw": set(),
        "vatex_raw": set(),
        "panda70m_instructions": set(),
        "panda70m_subset": {"panda70m_instructions"},
        "panda70m_shards": {"panda70m_instructions"},
        "scenario_metadata": {"msr_vtt_raw", "panda70m_shards"},
        "vatex_eval_prompts": {"vatex_raw"},
        "clip_frames": {"scenario_metadata"},
        "clip_latents": {"clip_frames"},
        "training_index": {"clip_latents"},
        "prompt_embeddings": {"scenario_metadata"},
        "training_exports": {"training_index", "prompt_embeddings"},
    }


def test_frames_latents_prompts_and_index_are_partitioned_by_shard_with_multi_run_backfills():
    from prep_platform.defs.partitions import SHARDS_PER_RUN, shard_partitions

    graph = _graph()
    for name in ("clip_frames", "clip_latents", "training_index", "prompt_embeddings"):
        node = graph.get(dg.AssetKey(name))
        assert node.partitions_def == shard_partitions and node.backfill_policy == dg.BackfillPolicy.multi_run(SHARDS_PER_RUN)
    assert shard_partitions.name == "scenario_shards" and SHARDS_PER_RUN == 4
    assert graph.get(dg.AssetKey("training_exports")).partitions_def.get_partition_keys() == [
        "cogvideox-factory", "cogvideo-finetune", "finetrainers", "diffusers-videos"]
    for name in ("msr_vtt_raw", "vatex_raw", "panda70m_subset", "scenario_metadata", "vatex_eval_prompts"):
        assert graph.get(dg.AssetKey(name)).partitions_def is None


def test_gpu_work_is_pooled_and_tagged_and_frame_work_is_not():
    prompts_op = defs.resolve_assets_def("prompt_embeddings").node_def
    assert prompts_op.pool == "gpu" and prompts_op.tags["prep_platform/resource"] == "gpu"
    assert prompts_op.tags["dagster-celery/queue"] == "gpu"
    latents = defs.resolve_assets_def("clip_latents")
    frames = defs.resolve_assets_def("clip_frames")
    latents_op, frames_op = latents.node_def, frames.node_def
    assert latents_op.pool == "gpu" and frames_op.pool is None
    assert latents_op.tags["prep_platform/resource"] == "gpu" and "prep_platform/resource" not in frames_op.tags
    k8s = latents_op.tags["dagster-k8s/config"]
    k8s = json.loads(k8s) if isinstance(k8s, str) else k8s
    assert k8s["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "pytorch" in _graph().get(dg.AssetKey("clip_latents")).kinds


def test_latents_job_executor_limits_gpu_steps_and_never_forks():
    job = defs.resolve_job_def("latents_job")
    executor = job.executor_def
    assert executor.name == "gpu_multiprocess_executor"
    config = executor.apply_config_mapping({}).value["config"]
    assert config["start_method"] == {"forkserver": {}}
    assert config["tag_concurrency_limits"] == [{"key": "prep_platform/resource", "value": "gpu", "limit": 1}]
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert selected == {"clip_frames", "clip_latents", "training_index", "prompt_embeddings"}
    assert job.partitions_def == shard_partitions


def test_every_local_job_forks_its_steps_from_a_preloaded_server():
    """Spawn, Dagster's default, imports Dagster and the code location again in every step (seconds of CPU each);
    forkserver starts each step from a server that imported them once, and never forks a process that used CUDA."""
    jobs = [job.name for job in defs.jobs] + ["__ASSET_JOB"]  # the implicit job: a materialisation from the UI
    for name in jobs:
        executor = defs.resolve_job_def(name).executor_def
        config = executor.apply_config_mapping({}).value.get("config", {})
        assert "forkserver" in config.get("start_method", {}), (name, executor.name)


def test_dagster_yaml_limits_the_gpu_pool_and_frees_slots_of_crashed_runs():
    import yaml
    from pathlib import Path

    settings = yaml.safe_load((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    assert settings["run_monitoring"]["enabled"] and settings["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


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
        "scenario_metadata_label_confidence_check": ("scenario_metadata", False),
        "vatex_raw_annotation_schema_check": ("vatex_raw", True),
        "vatex_raw_available_clips_check": ("vatex_raw", False),
        "panda70m_subset_balance_check": ("panda70m_subset", False),
        "panda70m_subset_storage_check": ("panda70m_subset", False),
        "storage_free_space_check": ("scenario_metadata", True),
        "storage_budgets_check": ("scenario_metadata", False),
        "clip_frames_images_check": ("clip_frames", True),
        "clip_frames_windows_check": ("clip_frames", False),
        "clip_latents_files_check": ("clip_latents", True),
        "prompt_embeddings_files_check": ("prompt_embeddings", True),
        "training_exports_files_check": ("training_exports", True),
    }


def test_the_jobs_before_the_shards_cover_every_unpartitioned_asset_and_the_panda_ingest():
    from prep_platform.defs.raw.panda70m import download_shard_partitions

    def selected(name):
        return {key.to_user_string() for key in defs.resolve_job_def(name).asset_layer.selected_asset_keys}

    graph = _graph()
    unpartitioned = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is None}
    assert selected("sources_job") | selected("metadata_job") == unpartitioned - {"training_exports"}
    assert selected("panda_ingest_job") == {"panda70m_shards"}
    assert graph.get(dg.AssetKey("panda70m_shards")).partitions_def == download_shard_partitions
    assert "vatex_eval_prompts" in selected("metadata_job") and "msr_vtt_raw" in selected("sources_job")


def test_settings_resource_defaults_to_the_offline_sample(monkeypatch):
    from prep_platform.definitions import build_definitions

    monkeypatch.delenv("PREP_PLATFORM_MSR_VTT_SOURCE", raising=False)
    assert build_definitions().resources["settings"].msr_vtt_source == "sample"
    monkeypatch.setenv("PREP_PLATFORM_MSR_VTT_SOURCE", "hub")
    assert build_definitions().resources["settings"].msr_vtt_source == "hub"


def test_the_code_location_discovers_every_domain_folder():
    """No hand-kept list of domains: every folder of defs/ with a definitions.py is in the code location, all of it."""
    import importlib
    import pkgutil

    import prep_platform.defs as package

    repository = defs.get_repository_def()
    domains = [m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg]
    assert {"raw", "metadata", "storage", "frames", "latents", "prompts", "exports", "eval", "automation"} <= set(domains)
    for name in domains:
        domain = importlib.import_module(f"prep_platform.defs.{name}.definitions").defs
        for asset in domain.assets or []:
            assert set(asset.keys) <= set(repository.asset_graph.get_all_asset_keys()), name
        for check in domain.asset_checks or []:
            assert set(check.check_keys) <= set(repository.asset_graph.asset_check_keys), name
        assert {job.name for job in domain.jobs or []} <= {job.name for job in repository.get_all_jobs()}, name
        assert {s.name for s in domain.schedules or []} <= {s.name for s in repository.schedule_defs}, name


def test_definitions_validate():
    dg.Definitions.validate_loadable(defs)


def test_dg_check_defs_passes_from_the_repository_root():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    dg_cli = Path(sys.executable).parent / "dg"
    result = subprocess.run([str(dg_cli), "check", "defs"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_schedules_and_the_automation_sensor_start_stopped():
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"raw_refresh_schedule", "latents_nightly_schedule"}
    assert schedules["raw_refresh_schedule"].cron_schedule == "0 3 * * 0"
    assert schedules["latents_nightly_schedule"].cron_schedule == "0 2 * * *"
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in schedules.values())
    sensors = {sensor.name: sensor for sensor in defs.sensors}
    assert set(sensors) == {"prep_automation_sensor", "panda70m_shards_sensor"}
    assert all(sensor.default_status == dg.DefaultSensorStatus.STOPPED for sensor in sensors.values())
    assert sensors["panda70m_shards_sensor"].job_name == "panda_ingest_job"


def test_nightly_schedule_requests_runs_of_several_shards_over_every_shard():
    from prep_platform.defs.partitions import register_shards

    schedule = next(s for s in defs.schedules if s.name == "latents_nightly_schedule")
    import datetime

    shards = ["urban.0000", "urban.0001", "urban.0002", "nature.0000", "crowd.0000", "crowd.0001"]

    def tick(instance):
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime.datetime(2026, 11, 26, 2, 0),
            repository_def=defs.get_repository_def(),
        )
        return schedule.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        assert not tick(instance).run_requests and "scenario_metadata" in tick(instance).skip_message
        assert register_shards(instance, shards) == shards and register_shards(instance, shards[:2]) == []
        requests = list(tick(instance).run_requests)
        job = defs.resolve_job_def("latents_job")
        # Runs of 4 consecutive shards (the VAE loads once per run; runs go to every GPU worker), every shard once.
        ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in requests]
        assert ranges == [("urban.0000", "nature.0000"), ("crowd.0000", "crowd.0001")]
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            covered = [key for first, last in ranges
                       for key in job.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))]
        assert covered == shards
    assert [r.run_key for r in requests] == ["2026-11-26:urban.0000", "2026-11-26:crowd.0000"]
    raw = next(s for s in defs.schedules if s.name == "raw_refresh_schedule")
    assert raw.job_name == "raw_refresh_job"


def test_downstream_assets_are_automated_and_gated_on_blocking_checks():
    def kinds(node):
        yield type(node).__name__
        for child in getattr(node, "children", []):
            yield from kinds(child)

    graph = _graph()
    for name in ("scenario_metadata", "vatex_eval_prompts", "clip_frames", "clip_latents", "training_index"):
        found = set(kinds(graph.get(dg.AssetKey(name)).automation_condition))
        # eager (newly updated deps), code version changed, and all deps' blocking checks passed
        assert {"NewlyUpdatedCondition", "CodeVersionChangedCondition", "AllDepsCondition", "AllChecksCondition"} <= found
    for name in ("msr_vtt_raw", "vatex_raw"):
        assert graph.get(dg.AssetKey(name)).automation_condition is None  # raw downloads run on the weekly schedule
    metadata = graph.get(dg.AssetKey("scenario_metadata"))
    from prep_platform.lib.scenarios import load_scenarios

    assert metadata.code_version.endswith(load_scenarios().fingerprint())


def test_every_asset_with_an_automation_condition_is_in_a_sensor_the_readme_names():
    """Left out of every automation sensor, an asset makes Dagster add `default_automation_condition_sensor`: a
    fourth sensor on the Automation page that the README does not name (prompt_embeddings was)."""
    from pathlib import Path

    repository = defs.get_repository_def()
    graph = _graph()
    with_condition = {key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition is not None}
    assert dg.AssetKey("prompt_embeddings") in with_condition and dg.AssetKey("scenario_metadata") in with_condition
    covered = set()
    for sensor in repository.sensor_defs:
        if isinstance(sensor, dg.AutomationConditionSensorDefinition):
            covered |= sensor.asset_selection.resolve(graph)
    assert with_condition <= covered, with_condition - covered
    names = {sensor.name for sensor in repository.sensor_defs}
    assert "default_automation_condition_sensor" not in names
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in names), names


def test_loading_the_definitions_prints_no_preview_warning():
    done = subprocess.run([sys.executable, "-W", "always", "-c", "import prep_platform.definitions"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "PreviewWarning" not in done.stderr and "partitions_def on an AssetCheckSpec" not in done.stderr


def test_loading_the_definitions_imports_no_model_library():
    """A code server, a Celery worker and every step process load the definitions: torch, diffusers, transformers
    and the sentence encoder (seconds of CPU each) are imported only by the steps that run a model or export."""
    heavy = ("torch", "diffusers", "transformers", "sentence_transformers")
    done = subprocess.run([sys.executable, "-c", "import sys, prep_platform.definitions; "
                           f"print([m for m in {heavy!r} if m in sys.modules])"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_export_partitions_are_the_export_writers():
    from prep_platform.defs.exports.assets import EXPORT_FORMAT_NAMES
    from prep_platform.lib.exports.formats import FORMATS

    assert EXPORT_FORMAT_NAMES == list(FORMATS)


def test_the_readme_names_each_assets_run_config_as_the_launchpad_shows_it():
    """The walkthrough's launchpad list is the assets' per-run config fields, name for name (it had `limit` and
    `source` where the launchpad shows `msr_vtt_limit` and `msr_vtt_source`)."""
    import re

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    walkthrough = " ".join(readme.split("2. **Materialise.**", 1)[1].split("3. **Read the result.**", 1)[0].split())
    listed = {}
    for names, asset in re.findall(r"((?:`\w+`(?:,| and)? )+)for `(\w+)`", walkthrough):
        listed[asset] = set(re.findall(r"`(\w+)`", names))
    repository = defs.get_repository_def()
    configured = {}
    for node in repository.asset_graph.asset_nodes:
        config_type = node.assets_def.op.config_schema.config_type if node.assets_def.op.config_schema else None
        fields = set(getattr(config_type, "fields", {}) or {})
        if fields:
            configured[node.key.to_user_string()] = fields
    assert listed == configured
