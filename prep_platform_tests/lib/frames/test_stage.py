"""The frame stage on real H.264 files (lib.frames.stage): windows and images per clip, worker processes through bad
clips, incremental reruns, images per frame configuration."""

from __future__ import annotations

from pathlib import Path
from fractions import Fraction

import cv2

from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.stage import run_frame_stage
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.layout import DataLayout

SMALL = FrameConfig(width=144, height=96, frames=49, fps=8.0)


def test_frame_stage_runs_through_bad_clips_in_worker_processes(tmp_path):
    good = tmp_path / "good.mp4"
    write_clip(good, width=322, height=242, fps=Fraction(25), seconds=7.0, audio=True)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    records = [
        {"video_id": "good", "scenario": "urban", "video_path": str(good)},
        {"video_id": "bad", "scenario": "urban", "video_path": str(bad)},
    ]
    result = run_frame_stage(records, DataLayout(tmp_path, SMALL).relocated(images_root=tmp_path / "img", latents_root=tmp_path / "lat"), workers=2)
    by_id = {clip["video_id"]: clip for clip in result.clips}
    assert by_id["good"]["status"] == "ok" and by_id["bad"]["status"] == "unreadable"
    images = tmp_path / "img" / "urban" / SMALL.tag
    assert by_id["good"]["image_path"] == str(images / "good.png")
    assert by_id["good"]["latent_path"] == str(tmp_path / "lat" / "cogvideox" / "urban" / "good.npz")
    image = cv2.imread(str(images / "good.png"))
    assert image.shape == (96, 144, 3)
    assert by_id["good"]["decoded_frames"] == 175 and by_id["good"]["source_fingerprint"]
    assert not (images / "bad.png").exists()
    assert result.counts == {"ok": 1, "unreadable": 1}


def _decoded(monkeypatch) -> list[str]:
    """The clips the frame stage decodes (in-process, workers=0): every decode goes through scan_clip."""
    from prep_platform.lib.frames import stage as frames

    seen: list[str] = []
    real = frames.scan_clip

    def spy(path, *args, **kwargs):
        seen.append(Path(path).stem)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(frames, "scan_clip", spy)
    return seen


def test_a_rerun_decodes_only_the_clips_whose_source_settings_or_images_changed(tmp_path, monkeypatch):
    import os
    import shutil

    from prep_platform.lib.frame_config import ShotSettings

    records = []
    for name, seconds in (("a", 7.0), ("b", 7.0), ("c", 7.5), ("short", 2.0)):
        path = tmp_path / "src" / f"{name}.mp4"
        path.parent.mkdir(exist_ok=True)
        write_clip(path, seconds=seconds, seed=len(records))
        records.append({"video_id": name, "scenario": "urban", "video_path": str(path)})
    layout = DataLayout(tmp_path / "root", SMALL)
    seen = _decoded(monkeypatch)
    first = run_frame_stage(records, layout, workers=0)
    assert sorted(seen) == ["a", "b", "c", "short"] and first.counts == {"ok": 3, "too_short": 1}

    seen.clear()
    again = run_frame_stage(records, layout, workers=0, previous=first.clips)
    assert seen == []  # nothing changed: nothing decoded, the too_short clip included
    assert again.clips_reused == 4 and again.counts == first.counts
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("cpu_s", "reused")} for r in rows]
    assert strip(again.clips) == strip(first.clips)

    # Touched but unchanged (new mtime, same bytes): hashed, not decoded. Changed bytes: decoded.
    os.utime(records[0]["video_path"], ns=(1, 1))
    shutil.copyfile(records[2]["video_path"], records[1]["video_path"])
    # An image removed by hand: that clip is decoded again to write it.
    layout.image("urban", "c").unlink()
    seen.clear()
    third = run_frame_stage(records, layout, workers=0, previous=again.clips)
    assert sorted(seen) == ["b", "c"]
    assert layout.image("urban", "c").exists()
    by_id = {row["video_id"]: row for row in third.clips}
    assert by_id["a"]["reused"] and by_id["a"]["source_mtime_ns"] == 1  # the new mtime kept: next time stat only
    assert by_id["b"]["source_fingerprint"] == by_id["c"]["source_fingerprint"]

    # A changed shot setting decodes every clip; the frame configuration another folder, every clip again.
    seen.clear()
    run_frame_stage(records, layout, workers=0, shot_settings=ShotSettings(min_shot_s=1.0), previous=third.clips)
    assert sorted(seen) == ["a", "b", "c", "short"]
    seen.clear()
    other = layout.with_frame_config(FrameConfig(width=96, height=64, frames=49))
    run_frame_stage(records, other, workers=0, previous=third.clips)
    assert sorted(seen) == ["a", "b", "c", "short"]


def test_a_run_with_another_frame_size_never_overwrites_the_images_of_the_first(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, seconds=3.0)
    records = [{"video_id": "video1", "scenario": "urban", "video_path": str(clip)}]
    roots = {"images_root": tmp_path / "images", "latents_root": tmp_path / "latents"}
    first = run_frame_stage(records, DataLayout(tmp_path, FrameConfig(width=240, height=160, frames=9)).relocated(**roots), workers=0)
    image = Path(first.clips[0]["image_path"])
    before = (image.read_bytes(), image.stat().st_mtime_ns)
    second = run_frame_stage(records, DataLayout(tmp_path, FrameConfig(width=352, height=240, frames=9)).relocated(**roots), workers=0)
    other = Path(second.clips[0]["image_path"])
    assert other != image and other.exists()
    assert (image.read_bytes(), image.stat().st_mtime_ns) == before
