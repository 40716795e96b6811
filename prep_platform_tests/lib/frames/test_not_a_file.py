"""A clip path that is not a regular file (a device, a FIFO, a folder) is refused before it is opened, with a status
and a reason for that clip, in well under a second: opening a FIFO blocks until someone writes, and /dev/zero never
ends (and says it holds 0 bytes). The run goes on with the other clips."""

from __future__ import annotations

import os
import time
from fractions import Fraction

import pytest

from prep_platform.lib.source_files import NotARegularFile, index_tar, member_path, open_clip
from prep_platform.lib.source_files import file_fingerprint
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.frames.stage import run_frame_stage
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import NOT_A_FILE, probe_video
from prep_platform.samples.synthetic_clips import write_clip


@pytest.fixture
def not_files(tmp_path):
    """/dev/zero, a real FIFO nobody writes to, a folder named like a clip, and a FIFO named like a tar."""
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    tar = tmp_path / "shard.tar"
    os.mkfifo(tar)
    return {"zero": "/dev/zero", "fifo": str(fifo), "folder": str(folder), "tar_fifo": member_path(tar, "a.mp4")}


def test_probing_refuses_each_without_opening_it(not_files):
    for name, path in not_files.items():
        started = time.perf_counter()
        result = probe_video(path)
        assert time.perf_counter() - started < 1.0, name
        assert result.status == NOT_A_FILE and "not a regular file: refused without opening it" in result.error, name
        with pytest.raises(NotARegularFile):  # the content hash a stage records never reads them either
            file_fingerprint(path)
        with pytest.raises(NotARegularFile):
            open_clip(path)
    assert index_tar(not_files["tar_fifo"].split("::")[0]).members == {}


def test_the_frame_stage_records_them_and_goes_on(not_files, tmp_path):
    good = tmp_path / "good.mp4"
    write_clip(good, width=160, height=120, fps=Fraction(24), seconds=2.0, seed=1, textured=True)
    records = [{"video_id": name, "scenario": "urban", "split": "train", "video_path": path}
               for name, path in {**not_files, "good": str(good)}.items()]
    layout = DataLayout(tmp_path / "data", FrameConfig(width=144, height=96, frames=9, fps=8.0))
    started = time.perf_counter()
    result = run_frame_stage(records[:-1], layout, workers=0)
    assert time.perf_counter() - started < 1.0  # was > 240 s: hashing /dev/zero, blocked opening the FIFO
    assert {row["video_id"]: row["status"] for row in result.clips} == {name: NOT_A_FILE for name in not_files}
    assert all(row["reason"].endswith("not a regular file: refused without opening it") for row in result.clips)
    with_good = run_frame_stage(records, layout, workers=1)  # a worker process too; the good clip is unaffected
    assert with_good.counts == {NOT_A_FILE: 4, "ok": 1}
