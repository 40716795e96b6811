"""A writer killed inside a manifest write leaves a temp file that the next run of the stage owning that folder
removes (issue 28): the frames manifest of a real frame-stage run, the metadata store. Only files of atomic_path's
naming whose writer is gone are removed; a live writer's and anyone else's stay."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from prep_platform.lib.files.atomic import host_tag
from prep_platform.lib.files.metadata_store import read_records, write_records
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.frames.stage import read_frames_manifest, run_frame_stage, write_frames_manifest
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.samples.synthetic_clips import write_clip

# The frames manifest written as the stage writes it, killed (SIGKILL) halfway through the Parquet rows.
KILLED_MANIFEST_WRITE = textwrap.dedent("""
    import os, signal, sys
    from prep_platform.lib.files import row_table
    from prep_platform.lib.frames.stage import FrameStageResult, write_frames_manifest
    from prep_platform.lib.frame_config import FrameConfig

    def half_then_killed(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half of the rows")
            handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    row_table.pq.write_table = half_then_killed
    result = FrameStageResult([{"video_id": "a", "status": "ok"}], FrameConfig(width=144, height=96, frames=9), 0.1)
    write_frames_manifest(sys.argv[1], result, "urban.0000")
""")


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def _not_ours(folder: Path, live_pid: int) -> list[Path]:
    """Files a clean-up must leave: a user's, an older naming, another host's (its pid cannot be checked here), a
    live writer's."""
    paths = [folder / ".x.tmp", folder / ".frames_manifest.parquet.k2j3h4.tmp",
             folder / f".frames_manifest.json.{_dead_pid()}-00000000-ab12cd34.tmp",
             folder / f".frames_manifest.json.{live_pid}-{host_tag()}-ab12cd34.tmp"]
    for path in paths:
        path.write_bytes(b"not the stage's to remove")
    return paths


def test_a_killed_frames_manifest_write_is_cleaned_by_the_next_frame_stage_run(tmp_path):
    layout = DataLayout(tmp_path / "root", FrameConfig(width=144, height=96, frames=9))
    manifest = layout.frames_manifest("urban", 0)
    writer = subprocess.Popen([sys.executable, "-c", KILLED_MANIFEST_WRITE, str(manifest)], stderr=subprocess.PIPE,
                              text=True)
    assert writer.wait(timeout=120) == -9, writer.stderr.read()
    [leftover] = manifest.parent.glob(".frames_manifest.parquet.*.tmp")
    assert leftover.name.startswith(f".frames_manifest.parquet.{writer.pid}-{host_tag()}-")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        foreign = _not_ours(manifest.parent, sleeper.pid)
        clip = tmp_path / "a.mp4"
        write_clip(clip, seconds=2.0)
        result = run_frame_stage([{"video_id": "a", "scenario": "urban", "video_path": str(clip)}], layout, workers=0)
        write_frames_manifest(manifest, result, "urban.0000")  # the stage's own end, as pipeline.prepare_frames
        assert not leftover.exists() and all(path.exists() for path in foreign)
        assert read_frames_manifest(manifest)["clips"][0]["video_id"] == "a"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_killed_metadata_builds_temp_store_is_cleaned_by_the_next_build(tmp_path):
    store = tmp_path / "metadata" / "scenario_metadata.parquet"
    store.parent.mkdir()
    leftover = store.parent / f".scenario_metadata.parquet.{_dead_pid()}-{host_tag()}-0f1e2d3c.tmp"
    leftover.write_bytes(b"PAR1 half a store")
    foreign = store.parent / ".x.tmp"
    foreign.write_text("mine")
    record = {"video_id": "video1", "scenario": "urban", "split": "train", "caption": "a street",
              "video_path": "/clips/video1.mp4", "prompt_variants": ["a street"]}
    write_records(store, [record])
    assert not leftover.exists() and foreign.exists()
    assert [r["video_id"] for r in read_records(store)] == ["video1"]
