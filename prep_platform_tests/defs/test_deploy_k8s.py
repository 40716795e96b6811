"""The Kubernetes profile: executor config, and every GPU step's tags parsed by dagster_k8s itself."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

REPO = Path(__file__).resolve().parents[2]


def _defs(monkeypatch, profile: str) -> dg.Definitions:
    import importlib

    monkeypatch.setenv("PREP_PLATFORM_DEPLOYMENT", profile)
    monkeypatch.setenv("PREP_PLATFORM_K8S_GPUS", "4")
    import prep_platform.defs.automation.schedules as schedules
    import prep_platform.defs.automation.jobs as jobs

    import prep_platform.defs.automation.definitions as automation

    importlib.reload(jobs)
    importlib.reload(schedules)
    importlib.reload(automation)
    from prep_platform import definitions

    return importlib.reload(definitions).defs


def test_kubernetes_profile_uses_the_k8s_job_executor(monkeypatch):
    defs = _defs(monkeypatch, "kubernetes")
    try:
        for name in ("sources_job", "panda_ingest_job", "metadata_job", "latents_job", "raw_refresh_job"):
            executor = defs.resolve_job_def(name).executor_def
            assert executor.name == "k8s_step_executor"
            config = executor.apply_config_mapping({}).value["config"]
            assert config["job_namespace"] == "prep-platform"
            assert config["tag_concurrency_limits"] == [{"key": "prep_platform/resource", "value": "gpu", "limit": 4}]
    finally:
        _defs(monkeypatch, "local")


def test_every_gpu_step_parses_into_gpu_container_resources():
    from dagster_k8s.job import get_user_defined_k8s_config

    from prep_platform.definitions import defs

    graph = defs.resolve_asset_graph()
    gpu_assets = []
    for key in graph.get_all_asset_keys():
        tags = defs.resolve_assets_def(key).node_def.tags
        config = get_user_defined_k8s_config(tags)
        if tags.get("prep_platform/resource") == "gpu":
            gpu_assets.append(key.to_user_string())
            resources = config.container_config["resources"]
            assert resources["limits"]["nvidia.com/gpu"] == "1" and resources["requests"]["nvidia.com/gpu"] == "1"
            assert config.pod_spec_config["node_selector"] == {"nvidia.com/gpu.present": "true"}
            assert config.pod_spec_config["tolerations"][0]["key"] == "nvidia.com/gpu"
            assert tags["dagster-celery/queue"] == "gpu"
        else:
            assert "resources" not in config.container_config  # CPU steps ask for no GPU
            assert tags["dagster-celery/queue"] == "cpu"
    assert sorted(gpu_assets) == ["clip_latents", "prompt_embeddings"]


def test_deploy_files_are_valid_yaml_and_consistent():
    values = yaml.safe_load((REPO / "prep_platform/deploy/kubernetes/values.yaml").read_text())
    env = {e["name"]: e.get("value") for e in values["dagster-user-deployments"]["deployments"][0]["env"]}
    assert env["PREP_PLATFORM_DEPLOYMENT"] == "kubernetes"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    instance = yaml.safe_load((REPO / "prep_platform/deploy/distributed/dagster.yaml").read_text())
    assert "postgres" in instance["storage"]
    celery = yaml.safe_load((REPO / "prep_platform/deploy/distributed/celery.yaml").read_text())
    assert celery["execution"]["config"]["config_source"]["task_acks_late"] is True
