"""Every long step shows progress within seconds, counting what it counts, and a tool lists only the shards the
metadata has."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from prep_platform_tests.support.cli_runs import CLI, metadata_file_of_clips


def test_build_scenario_metadata_shows_progress_from_its_first_seconds(msr_vtt_raw_dir: Path):
    """A first run loads the label model (~20 s on two cores) and printed nothing until it was done."""
    root = msr_vtt_raw_dir.parent.parent  # a fresh data root: no caption cache, the model not unpacked yet
    started = time.monotonic()
    process = subprocess.Popen(CLI + ["prep_platform.data_prep.build_scenario_metadata", "--data-root", str(root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    first_progress, stderr = None, b""
    while True:
        chunk = os.read(process.stderr.fileno(), 65536)  # tqdm redraws with \r: read what comes, not lines
        if not chunk:
            break
        stderr += chunk
        if first_progress is None and b"embedding captions" in stderr:
            first_progress = time.monotonic() - started
    stdout = process.stdout.read().decode()
    assert process.wait(timeout=300) == 0, stderr.decode()[-3000:]
    total = time.monotonic() - started
    text = stderr.decode().replace("\r", "\n")
    # Told at once (the imports take ~1-2 s), not after the model loaded and every caption was embedded.
    assert first_progress is not None and first_progress < 10, (first_progress, total)
    assert "msr-vtt: embedding captions:   0%" in text  # before the model loads
    counted = json.loads(stdout)
    # Every usable clip labelled, those given a scenario counted as done (the others by why they were kept out).
    finished = re.search(r"msr-vtt: labelling clips: 100%\|[^|]*\| (\d+)/\1 .*done=(\d+)", text)
    assert finished and int(finished.group(2)) == counted["train"] + counted["validation"], text[-2000:]


def test_encode_prompts_runs_and_lists_only_the_shards_the_metadata_has(tmp_path):
    """A metadata file of urban clips: the tool listed press_room.0000, nature.0000, ... as shards with 0 prompts."""
    metadata = metadata_file_of_clips(tmp_path, 2)
    command = CLI + ["prep_platform.data_prep.encode_prompts", "--data-root", str(tmp_path / "data"), "--metadata",
                     str(metadata), "--text-encoder-preset", "tiny"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(json.loads(done.stdout)["shards"]) == ["urban.0000"]
    assert "prompts: 100%" in done.stderr.replace("\r", "\n")
    other = subprocess.run(command + ["--scenario", "nature"], capture_output=True, text=True, timeout=300)
    assert other.returncode == 2
    assert other.stderr.splitlines() == [f"encode_prompts: error: scenario 'nature' has no clips in {metadata}: nothing to run"]
