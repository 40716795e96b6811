"""The `distributed` profile with real services on loopback: PostgreSQL instance storage, a Redis broker, one
Celery worker serving `cpu` and one serving only `gpu` (here the "gpu" worker runs the tiny VAE on CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from prep_platform_tests.support.services import missing_services, postgres_server, redis_server

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "ok")]
IGNORED_HEADER_KEYS = {"created_at", "source_path"}


def _env(base: dict, **extra) -> dict:
    return {**os.environ, **base, **extra}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with postgres_server() as pg, redis_server() as redis:
        home = tmp_path_factory.mktemp("dagster_home")
        shutil.copy(REPO / "prep_platform/deploy/distributed/dagster.yaml", home / "dagster.yaml")
        celery_config = yaml.safe_load((REPO / "prep_platform/deploy/distributed/celery.yaml").read_text())
        # A short visibility timeout: a task whose worker died is handed to another worker within seconds.
        celery_config["execution"]["config"]["config_source"]["broker_transport_options"]["visibility_timeout"] = 8
        (home / "celery.yaml").write_text(yaml.safe_dump(celery_config))
        data = tmp_path_factory.mktemp("shared_data")  # the data root every worker sees
        base = {
            "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": pg["host"], "DAGSTER_PG_PORT": str(pg["port"]),
            "DAGSTER_PG_USER": pg["user"], "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg["db"],
            "PREP_PLATFORM_PROFILE": "distributed",
            "PREP_PLATFORM_CELERY_BROKER": f"{redis['url']}/0", "PREP_PLATFORM_CELERY_BACKEND": f"{redis['url']}/1",
            "PREP_PLATFORM_CELERY_VISIBILITY_TIMEOUT": "8",
            "PREP_PLATFORM_DATA_ROOT": str(data), "PREP_PLATFORM_MSR_VTT_SOURCE": "sample",
            "PREP_PLATFORM_FRAME_SIZE": "144x96", "PREP_PLATFORM_FRAMES": "9",
            "PYTHONPATH": str(REPO),
        }
        workers: dict[str, subprocess.Popen] = {}

        def start_worker(name: str, *queues: str) -> subprocess.Popen:
            command = [str(Path(sys.executable).parent / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                       "-y", str(home / "celery.yaml"), "-n", name]
            for queue in queues:
                command += ["-q", queue]
            command += ["--", "--pool=solo", "--without-gossip", "--without-mingle"]
            log = (home / f"{name}.log").open("a")
            worker = subprocess.Popen(command, cwd=REPO, env=_env(base), stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
            workers[name] = worker
            return worker

        # The instance's tables are created once, before the workers start: two workers creating them at the same
        # time race (PostgreSQL: 'type "snapshots" already exists') and the loser dies at start-up.
        subprocess.run([sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().dispose()"], cwd=REPO,
                       env=_env(base), check=True, capture_output=True, timeout=120)
        start_worker("cpu", "cpu,dagster")  # one -Q value: celery keeps only the last of repeated -Q
        start_worker("gpu", "gpu")
        try:
            time.sleep(3)
            dead = [name for name, worker in workers.items() if worker.poll() is not None]
            if dead:  # fail now, with the reason, instead of waiting for steps nobody will take
                raise AssertionError(f"worker(s) {dead} died at start-up: {(home / f'{dead[0]}.log').read_text()[-2000:]}")
            yield {"base": base, "home": home, "data": data, "workers": workers, "start_worker": start_worker, "pg": pg}
        finally:
            for worker in workers.values():
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers.values():
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
    # Leaving the `with` stopped PostgreSQL and Redis; nothing of the cluster may still run.
    assert all(w.poll() is not None for w in workers.values())
    assert pg["process"].poll() is not None and redis["process"].poll() is not None


def _run(env: dict, partition: str, *extra: str, timeout: float = 600) -> dict:
    done = subprocess.run([sys.executable, "-m", "prep_platform_tests.support.distributed_run", partition, *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _latent_headers(folder: Path) -> dict[str, dict]:
    from prep_platform.lib.files.latent_file import read_latent_header

    return {p.name: {k: v for k, v in read_latent_header(p).items() if k not in IGNORED_HEADER_KEYS}
            for p in sorted(folder.glob("*.npz"))}


def test_gpu_steps_run_only_on_the_gpu_worker_and_outputs_match_a_local_run(cluster, tmp_path):
    report = _run(_env(cluster["base"]), "urban")
    assert all(run["success"] for run in report["runs"]), report
    prep, latents = report["runs"]
    workers = {**prep["workers"], **latents["workers"]}
    assert set(prep["steps"]) | set(latents["steps"]) <= set(workers)  # every step ran on a Celery worker
    gpu_steps = {step for step, worker in workers.items() if worker.startswith("gpu@")}
    assert gpu_steps == {"clip_latents", "prompt_embeddings"}, workers
    assert all(worker.startswith("cpu@") for step, worker in workers.items() if step not in gpu_steps)

    # The same pipeline in one process (SQLite instance) writes the same files and the same headers.
    local_home = tmp_path / "home"
    local_home.mkdir()
    local_data = tmp_path / "data"
    local_env = _env(cluster["base"], DAGSTER_HOME=str(local_home), PREP_PLATFORM_PROFILE="local",
                     PREP_PLATFORM_DATA_ROOT=str(local_data))
    local = _run(local_env, "urban", "--in-process")
    assert all(run["success"] for run in local["runs"])
    shared = cluster["data"]
    for relative in ("metadata/scenario_metadata.json",):
        ours, theirs = json.loads((shared / relative).read_text()), json.loads((local_data / relative).read_text())
        strip = lambda doc, root: json.dumps(doc).replace(str(root), "<root>")  # noqa: E731
        assert strip(ours, shared) == strip(theirs, local_data)
    distributed_headers = _latent_headers(shared / "prepared/latents/urban")
    local_headers = _latent_headers(local_data / "prepared/latents/urban")
    assert len(distributed_headers) == 6 and distributed_headers == local_headers
    print(f"\nsample pipeline wall time: Celery {prep['seconds'] + latents['seconds']:.1f} s, "
          f"in-process {local['runs'][0]['seconds'] + local['runs'][1]['seconds']:.1f} s")


def test_a_worker_killed_mid_step_leads_to_a_retried_step_and_a_complete_result(cluster):
    # Slow the GPU step down (49 frames at 240x160) so there is a step to kill.
    env = _env(cluster["base"])
    env.update(PREP_PLATFORM_FRAME_SIZE="240x160", PREP_PLATFORM_FRAMES="49")
    gpu = cluster["workers"]["gpu"]
    caches = cluster["data"] / "prepared/latents/crowd"
    runner = subprocess.Popen([sys.executable, "-m", "prep_platform_tests.support.distributed_run", "crowd"], cwd=REPO, env=env,
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
    latents = report["runs"][1]
    assert latents["success"], latents
    # The same Celery task (the clip_latents step) was received by the worker that died and, redelivered after
    # the visibility timeout, completed on the replacement.
    import re

    received = re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", (cluster["home"] / "gpu.log").read_text())
    assert received, "the killed worker never received the GPU step"
    assert f"execute_plan[{received[-1]}] succeeded" in (cluster["home"] / "gpu2.log").read_text()
    assert latents["workers"]["clip_latents"].startswith("gpu2@")
    manifest = json.loads((caches / "latents_manifest.json").read_text())
    statuses = [row["status"] for row in manifest["clips"]]
    assert len(statuses) == 6 and set(statuses) == {"encoded", "skipped"}  # what the dead worker wrote is kept
    from prep_platform.lib.files.latent_file import latent_file_problems

    assert not [p for row in manifest["clips"] for p in latent_file_problems(row["latent_path"], expect={})]
    assert replacement.poll() is None
