"""The walk of one clip (benchmarks.clip_walk): the trace follows the clip into every stage, the hop rule leaves out
what it says it leaves out, and docs/clip_walk.md holds today's counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prep_platform.benchmarks import clip_walk

DOC = Path(clip_walk.__file__).resolve().parents[1] / "docs" / "clip_walk.md"


@pytest.fixture(scope="module")
def walk():
    return clip_walk.walk_counts(clip_walk.trace_walk())


def test_the_trace_follows_the_clip_from_its_download_to_its_latent_file(walk):
    counts, everything = walk
    assert set(counts) == {"download", "metadata", "frames", "latents", "walk"}
    functions = {function for _, function in everything}
    # Each stage's own work is seen: the extract, the labelling, the window read, the encode and the cache write.
    for must in ("download_msr_vtt", "build_scenario_metadata", "read_window", "VaeEncoder.encode",
                 "write_latent_file"):
        assert must in functions, must
    # The writer thread of the latent stage is traced too.
    assert any(function.startswith("_Writer._run") for _, function in everything)


def test_the_hop_rule_leaves_out_path_getters_checks_locks_and_setup(walk):
    _, everything = walk
    hops = {key for key in everything if clip_walk.is_hop(*key)}
    assert hops and len(hops) < len(everything)
    assert not [key for key in hops if key[0] in ("lib/layout.py", "lib/safe_paths.py", "lib/settings.py")]
    names = {function.rsplit(".", 1)[-1] for _, function in hops}
    assert not {"folder_lock", "is_current", "unchanged_since"} & names
    assert not [f for _, f in hops if f.startswith(("SentenceEncoder.load", "SentenceEncoder.verify"))]
    # What the rule keeps: a function that stores the clip's data is a hop.
    assert ("lib/files/latent_file.py", "write_latent_file") in hops


def test_the_doc_holds_todays_counts():
    # In a fresh process, as the doc was written: in this one, other tests have filled caches the walk would call.
    done = subprocess.run([sys.executable, "-m", "prep_platform.benchmarks.clip_walk"], capture_output=True, text=True,
                          timeout=300, cwd=DOC.parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = next(line for line in done.stdout.splitlines() if line.startswith("walk "))
    documented = next(line for line in DOC.read_text().splitlines() if line.startswith("walk "))
    assert documented == fresh, ("docs/clip_walk.md is out of date: python -m prep_platform.benchmarks.clip_walk "
                                 "--markdown prep_platform/docs/clip_walk.md")
