"""download_msr_vtt as a user runs it: a missing repo is one line; clips that do not fit on the disk are recorded as
write_failed and the run exits 3."""

from __future__ import annotations

import json
import subprocess
from prep_platform_tests.support.cli_runs import CLI, run_module


def test_missing_repo_fails_with_a_message(loopback_hub, tmp_path):
    result = run_module("prep_platform.data_prep.download_msr_vtt", "--repo-id", "ghost/repo", "--output-dir", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "'ghost/repo'" in result.stderr and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_clips_that_do_not_fit_on_the_disk_are_write_failed_and_exit_3(sample_release, small_disk, tmp_path):
    with open(small_disk / "filler", "wb") as handle:  # leaves ~320 KiB: a few clips fit
        handle.write(b"\0" * (1024 * 1024 - 320 * 1024))
    # The clips folder is on the small disk, the manifest and report on a roomy one (as with a mounted clips volume).
    out = tmp_path / "msr-vtt"
    out.mkdir()
    (small_disk / "clips").mkdir()
    (out / "train-video").symlink_to(small_disk / "clips")
    done = subprocess.run(CLI + ["prep_platform.data_prep.download_msr_vtt", "--source", str(sample_release),
                                 "--output-dir", str(out), "--limit", "0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    counts = json.loads(done.stdout)["counts"]
    assert counts["ok"] >= 1 and counts["write_failed"] >= 1  # what fitted is kept, the rest says why
    assert "No space left on device" in done.stderr
