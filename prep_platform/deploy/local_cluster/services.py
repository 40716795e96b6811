"""Real PostgreSQL and Redis servers from Debian's packages, started on loopback ports for one cluster (a test
module, a benchmark run)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} in {timeout} s")


def postgres_bin() -> Path | None:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(versions[-1]).parent if versions else None


def missing_services() -> str:
    """Why the services cannot start here ("" when they can)."""
    if postgres_bin() is None:
        return "PostgreSQL server binaries not installed (Debian package postgresql)"
    if shutil.which("redis-server") is None:
        return "redis-server not installed (Debian package redis-server)"
    return ""


@contextmanager
def postgres_server():
    """A throwaway cluster; as root it runs as the `postgres` user (the server refuses root)."""
    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="prep-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*as_user, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_for_port(port, server, "postgres")
        for _ in range(50):
            done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE dagster"],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"cannot create the database: {done.stderr}")
        yield {"host": "127.0.0.1", "port": port, "user": "postgres", "db": "dagster", "process": server}
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server():
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_for_port(port, server, "redis-server")
        yield {"url": f"redis://127.0.0.1:{port}", "port": port, "process": server}
    finally:
        server.terminate()
        server.wait(timeout=30)
