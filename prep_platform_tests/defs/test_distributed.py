"""The `distributed` profile with real services on loopback: PostgreSQL instance storage, a Redis broker, one
Celery worker serving `cpu` and one serving only `gpu` (here the "gpu" worker runs the tiny VAE on CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prep_platform.deploy.local_cluster.cluster import running_cluster
from prep_platform.deploy.local_cluster.services import missing_services
from prep_platform.lib.stages.latents import read_latents_manifest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "ok")]
IGNORED_HEADER_KEYS = {"created_at", "source_path"}


def _env(base: dict, **extra) -> dict:
    return {**os.environ, **base, **extra}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("cluster"), {}, [("cpu", "cpu,dagster"), ("gpu", "gpu")]) as running:
        yield running


def _run(env: dict, partition: str, *extra: str, timeout: float = 600) -> dict:
    done = subprocess.run([sys.executable, "-m", "prep_platform_tests.support.distributed_run", partition, *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _latent_headers(folder: Path) -> dict[str, dict]:
    from prep_platform.lib.files.latent_file import read_latent_header

    return {p.name: {k: v for k, v in read_latent_header(p).to_json().items() if k not in IGNORED_HEADER_KEYS}
            for p in sorted(folder.glob("*.npz"))}


def test_gpu_steps_run_only_on_the_gpu_worker_and_outputs_match_a_local_run(cluster, tmp_path):
    report = _run(_env(cluster["base"]), "urban.0000")
    assert all(run["success"] for run in report["runs"]), report
    *prep_runs, latents = report["runs"]
    workers = {step: worker for run in report["runs"] for step, worker in run["workers"].items()}
    assert {step for run in report["runs"] for step in run["steps"]} <= set(workers)  # every step ran on a Celery worker
    assert "panda70m_shards" in workers and "scenario_metadata" in workers
    gpu_steps = {step for step, worker in workers.items() if worker.startswith("gpu@")}
    assert gpu_steps == {"clip_latents", "prompt_embeddings"}, workers
    assert all(worker.startswith("cpu@") for step, worker in workers.items() if step not in gpu_steps)

    # The same pipeline in one process (SQLite instance) writes the same files and the same headers.
    local_home = tmp_path / "home"
    local_home.mkdir()
    local_data = tmp_path / "data"
    local_env = _env(cluster["base"], DAGSTER_HOME=str(local_home), PREP_PLATFORM_DEPLOYMENT="local",
                     PREP_PLATFORM_DATA_ROOT=str(local_data))
    local = _run(local_env, "urban.0000", "--in-process")
    assert all(run["success"] for run in local["runs"])
    shared = cluster["data"]
    from prep_platform_tests.support.file_comparison import comparable

    for relative in ("metadata/scenario_metadata.parquet", "metadata/scenario_metadata.json"):
        assert comparable(shared / relative, shared) == comparable(local_data / relative, local_data)
    distributed_headers = _latent_headers(shared / "prepared/latents/cogvideox/urban")
    local_headers = _latent_headers(local_data / "prepared/latents/cogvideox/urban")
    assert len(distributed_headers) == 6 and distributed_headers == local_headers
    print(f"\nsample pipeline wall time: Celery {sum(run['seconds'] for run in report['runs']):.1f} s, "
          f"in-process {sum(run['seconds'] for run in local['runs']):.1f} s")


def test_a_worker_killed_mid_step_leads_to_a_retried_step_and_a_complete_result(cluster):
    # Slow the GPU step down (49 frames at 240x160) so there is a step to kill.
    env = _env(cluster["base"])
    env.update(PREP_PLATFORM_FRAME_SIZE="240x160", PREP_PLATFORM_FRAMES="49")
    gpu = cluster["workers"]["gpu"]
    caches = cluster["data"] / "prepared/latents/cogvideox/crowd"
    runner = subprocess.Popen([sys.executable, "-m", "prep_platform_tests.support.distributed_run", "crowd.0000"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(caches.glob("*.npz")):  # the GPU step is encoding: its first cache file is written
        assert runner.poll() is None and time.time() < deadline, "the GPU step never started writing"
        time.sleep(0.2)
    os.killpg(gpu.pid, signal.SIGKILL)  # the worker dies in the middle of encoding
    gpu.wait()
    replacement = cluster["start_worker"]("gpu2", "gpu")
    stdout, stderr = runner.communicate(timeout=600)
    assert runner.returncode == 0, stderr[-4000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    latents = report["runs"][-1]
    assert latents["success"], latents
    # The same Celery task (the clip_latents step) was received by the worker that died and, redelivered after
    # the visibility timeout, completed on the replacement.
    import re

    received = re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", (cluster["home"] / "gpu.log").read_text())
    assert received, "the killed worker never received the GPU step"
    assert f"execute_plan[{received[-1]}] succeeded" in (cluster["home"] / "gpu2.log").read_text()
    assert latents["workers"]["clip_latents"].startswith("gpu2@")
    manifest = read_latents_manifest(caches / "shard-0000" / "latents_manifest.json")
    statuses = [row["status"] for row in manifest["clips"]]
    assert len(statuses) == 6 and set(statuses) == {"encoded", "skipped"}  # what the dead worker wrote is kept
    from prep_platform.lib.files.latent_file import latent_file_problems

    assert not [p for row in manifest["clips"] for p in latent_file_problems(row["latent_path"], expect={})]
    assert replacement.poll() is None
