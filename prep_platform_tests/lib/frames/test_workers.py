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


def test_ctrl_c_during_latent_encoding_is_one_line_and_leaves_nothing_running(tmp_path):
    """Ctrl-C reaches the whole process group: the decode workers printed a ~20-line KeyboardInterrupt traceback
    each before the run's own line. Now only the run answers (exit 130, one line), and no process is left."""
    metadata = metadata_file_of_clips(tmp_path, 6, seconds=7.0)
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
                   str(tmp_path / "latents"), "--size", "240x160", "--frames", "49", "--workers", "2",
                   "--encode-latents", "--vae-preset", "tiny"],
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,  # its own group, as a terminal gives it
        )
        try:
            deadline = time.monotonic() + 180
            # Into the encoding: the first clip encoded (the model loaded; ~3-5 s a clip after it). A signal during
            # the model's first import could land in a library's own bare `except:`, which is not ours to test.
            while "latents:" not in (shown := stderr.read_text()) or "done=1" not in shown.split("latents:", 1)[1]:
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert process.poll() is None, "the run ended before its latent stage could be interrupted"
            descendants = psutil.Process(process.pid).children(recursive=True)
            assert len(descendants) >= 3, "no decode workers to interrupt"
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    text = stderr.read_text()
    assert code == 130, text[-3000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
    lines = [line for line in text.replace("\r", "\n").splitlines() if "error" in line or "interrupted" in line]
    assert lines == ["preprocess_video_latents: interrupted; run the same command again to resume"]
    gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert not alive, [(p.pid, p.cmdline()[:3]) for p in alive]
