"""A Celery cluster on loopback for the distributed tests and benchmarks: PostgreSQL instance storage, a Redis
broker, Celery workers serving named queues, every process with the same environment (settings are read where a
step runs: in the worker)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from prep_platform.deploy.local_cluster.services import postgres_server, redis_server

REPO = Path(__file__).resolve().parents[3]


def _env(base: dict, **extra) -> dict:
    return {**os.environ, **base, **extra}


@contextmanager
def running_cluster(folder: Path, settings: dict, queues: list[tuple[str, str]], *, visibility_timeout: int = 8):
    """PostgreSQL, Redis and Celery workers (name, queues) whose environment holds `settings` (each step runs in a
    worker and reads its settings there); DAGSTER_HOME and the shared data root under `folder`."""
    with postgres_server() as pg, redis_server() as redis:
        home = folder / "dagster_home"
        home.mkdir(parents=True)
        shutil.copy(REPO / "prep_platform/deploy/distributed/dagster.yaml", home / "dagster.yaml")
        celery_config = yaml.safe_load((REPO / "prep_platform/deploy/distributed/celery.yaml").read_text())
        # A short visibility timeout: a task whose worker died is handed to another worker within seconds.
        celery_config["execution"]["config"]["config_source"]["broker_transport_options"]["visibility_timeout"] = visibility_timeout
        (home / "celery.yaml").write_text(yaml.safe_dump(celery_config))
        data = folder / "shared_data"  # the data root every worker sees
        data.mkdir()
        base = {
            "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": pg["host"], "DAGSTER_PG_PORT": str(pg["port"]),
            "DAGSTER_PG_USER": pg["user"], "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg["db"],
            "PREP_PLATFORM_DEPLOYMENT": "distributed",
            "PREP_PLATFORM_CELERY_BROKER": f"{redis['url']}/0", "PREP_PLATFORM_CELERY_BACKEND": f"{redis['url']}/1",
            "PREP_PLATFORM_CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "PREP_PLATFORM_DATA_ROOT": str(data), "PREP_PLATFORM_MSR_VTT_SOURCE": "sample",
            "PREP_PLATFORM_FRAME_SIZE": "144x96", "PREP_PLATFORM_FRAMES": "9",
            "PYTHONPATH": str(REPO), **settings,
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
        for name, names in queues:
            start_worker(name, names)  # one -Q value: celery keeps only the last of repeated -Q
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
