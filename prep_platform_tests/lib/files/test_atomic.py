"""Atomic writes and folder locks: a failed write names the file and keeps the old content, a killed writer's temp
files are removed by the next run, a live writer's and files of any other naming are left alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from prep_platform.lib.files.atomic import WriteError, folder_lock, host_tag, write_json_atomic


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from prep_platform.lib.files.atomic import atomic_path

    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_bytes(b"half of a latent file")
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_killed_writes_temp_files_are_removed_by_the_next_run_and_no_one_elses(tmp_path):
    folder = tmp_path / "latents" / "urban"
    folder.mkdir(parents=True)
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(folder / "video0.npz")], stderr=subprocess.PIPE,
                              text=True)
    assert writer.wait(timeout=60) == -9, writer.stderr.read()
    [leftover] = folder.glob(".video0.npz.*.tmp")  # what kill -9 during write_latent_file leaves
    assert leftover.name.startswith(f".video0.npz.{writer.pid}-{host_tag()}-")
    # Files of other namings are not ours, whatever they look like: a user's, an older tool's, another host's.
    foreign = [folder / ".x.tmp", folder / ".video0.npz.k2j3h4.tmp", folder / "notes.txt",
               folder / f".video1.npz.{_dead_pid()}-00000000-ab12cd34.tmp"]
    for path in foreign:
        path.write_text("mine")
    with folder_lock([folder]) as removed:
        assert removed == [leftover]
    assert not leftover.exists() and all(path.exists() for path in foreign)


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_a_write_error_names_the_file_and_leaves_the_old_content(tmp_path, small_disk):
    target = small_disk / "manifest.json"
    write_json_atomic(target, {"old": True})
    with pytest.raises(WriteError) as error:
        write_json_atomic(target, {"big": "x" * (2 << 20)})
    assert str(target) in str(error.value) and "No space left on device" in str(error.value)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in small_disk.iterdir()] == ["manifest.json"]  # no temp file left


def test_a_live_writers_temp_file_is_left_alone_by_another_run(tmp_path):
    """A stage writes its manifest after letting go of the folder's lock; a second run that takes the lock then
    cleans only the temp files of writers that are gone (this raced under load: ENOENT at the manifest's rename)."""
    folder = tmp_path / "latents" / "urban"
    folder.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = folder / f".latents_manifest.json.{sleeper.pid}-{host_tag()}-ab12cd34.tmp"
        live.write_bytes(b"being written")
        dead = folder / f".video1.npz.{_dead_pid()}-{host_tag()}-ef34ab12.tmp"
        dead.write_bytes(b"left by a killed run")
        with folder_lock([folder]) as removed:
            assert removed == [dead]
        assert live.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
