"""Decode worker processes die with a killed run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import psutil
from prep_platform_tests.support.cli_runs import CLI, metadata_file_of_clips


def test_worker_processes_die_with_a_killed_run(tmp_path):
    metadata = metadata_file_of_clips(tmp_path, 6, seconds=6.0)
    process = subprocess.Popen(
        CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
               str(tmp_path / "latents"), "--size", "144x96", "--frames", "9", "--workers", "2", "--encode-latents",
               "--vae-preset", "tiny"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(process.pid)
    descendants: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(descendants) < 3 and process.poll() is None:
        descendants = parent.children(recursive=True)  # forkserver, its workers, the resource tracker
        time.sleep(0.1)
    assert len(descendants) >= 3, "the run never started its worker processes"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert not alive, [(p.pid, p.cmdline()[:3]) for p in alive]
