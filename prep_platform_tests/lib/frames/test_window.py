"""A clip's window on real H.264 files (lib.frames.read): resampling by presentation time at any source fps, cover-
crop never stretching, padding, and every kind of bad file with its status and reason."""

from __future__ import annotations

import zipfile
from fractions import Fraction
import numpy as np
import pytest
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import read_window
from prep_platform.samples.msr_vtt import VIDEOS_ARCHIVE, sample_clips
from prep_platform.samples.synthetic_clips import index_level, write_audio_only, write_clip

SMALL = FrameConfig(width=144, height=96, frames=49, fps=8.0)


def _picked_levels(result) -> np.ndarray:
    return result.frames.reshape(result.frames.shape[0], -1).mean(axis=1)


def _expected_levels(times: list[float], config: FrameConfig) -> np.ndarray:
    """Sample-and-hold: target k shows the last source frame whose time is <= k / fps."""
    picks = [max(i for i, t in enumerate(times) if t <= k / config.fps + 1e-6) for k in range(config.frames)]
    return np.array([index_level(i) for i in picks], float)


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(25), Fraction(15), Fraction(30000, 1001)])
def test_resampling_is_by_time_at_any_source_fps(tmp_path, fps):
    path = tmp_path / "clip.mp4"
    times = write_clip(path, fps=fps, seconds=7.0)
    result = read_window(path, SMALL, want_frames=True)
    assert result.status == "ok", result.reason
    assert result.frames.shape == (49, 96, 144, 3) and result.frames.dtype == np.uint8
    assert np.abs(_picked_levels(result) - _expected_levels(times, SMALL)).max() < 2.0
    assert result.decoded_frames == len(times)  # counted, not estimated
    assert result.source_fps == pytest.approx(float(fps), rel=1e-3)
    assert (result.window_start_s, result.window_end_s) == (0.0, 6.0)


def test_variable_frame_rate_clip_is_resampled_by_presentation_time(tmp_path):
    rng = np.random.default_rng(3)
    steps = rng.uniform(0.015, 0.09, 220)
    times = [0.0] + list(np.cumsum(steps)[:-1])
    path = tmp_path / "vfr.mp4"
    times = write_clip(path, frame_times=times)  # the timestamps as stored (milliseconds)
    result = read_window(path, SMALL, want_frames=True)
    assert result.status == "ok", result.reason
    assert np.abs(_picked_levels(result) - _expected_levels(times, SMALL)).max() < 2.0
    assert result.decoded_frames == len(times)


@pytest.mark.parametrize(("width", "height"), [(240, 320), (322, 242), (1280, 720)])
def test_portrait_and_odd_sizes_are_cover_cropped_never_stretched(tmp_path, width, height):
    path = tmp_path / "clip.mp4"
    write_clip(path, width=width, height=height, seconds=6.5)
    result = read_window(path, SMALL, want_frames=True)
    assert result.status == "ok", result.reason
    assert result.frames.shape[1:] == (96, 144, 3)
    x0, y0, x1, y1 = result.crop_box
    assert (x1 - x0) / (y1 - y0) == pytest.approx(144 / 96, rel=1e-3)  # the target's aspect: no stretch
    assert (x0 + x1) / 2 == pytest.approx(width / 2) and (y0 + y1) / 2 == pytest.approx(height / 2)  # centered
    assert x1 - x0 == pytest.approx(width) or y1 - y0 == pytest.approx(height)  # covers: one side is full


def test_clip_with_an_audio_stream(tmp_path):
    path = tmp_path / "av.mp4"
    times = write_clip(path, seconds=7.0, audio=True)
    result = read_window(path, SMALL, want_frames=True)
    assert result.status == "ok" and result.decoded_frames == len(times)


def test_too_short_is_skipped_with_the_reason_or_padded_when_asked(tmp_path):
    path = tmp_path / "short.mp4"
    write_clip(path, seconds=3.0)
    result = read_window(path, SMALL)
    assert result.status == "too_short"
    assert "3.000 s of video" in result.reason and "49-frame window" in result.reason and "(24 of 49 frames)" in result.reason
    padded = read_window(path, FrameConfig(width=144, height=96, pad_short=True), want_frames=True)
    assert padded.status == "ok" and padded.padded_frames == 25 and padded.frames.shape[0] == 49
    assert np.array_equal(padded.frames[-1], padded.frames[23])


def test_bad_files_get_a_status_and_reason(tmp_path, sample_release):
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    audio = tmp_path / "audio.mp4"
    write_audio_only(audio)
    cut = tmp_path / "cut.mp4"  # moov at the end: cut off, the index is gone
    write_clip(cut, seconds=8.0)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    truncated_id = next(c.video_id for c in sample_clips() if c.defect == "truncated")
    faststart_cut = tmp_path / "faststart_cut.mp4"  # index up front: the frames run out early
    faststart_cut.write_bytes(zipfile.ZipFile(sample_release / VIDEOS_ARCHIVE).read(f"video/{truncated_id}.mp4"))

    expected = {
        zero: ("empty", "0 bytes"),
        text: ("unreadable", "cannot open"),
        audio: ("no_video_stream", "no video stream"),
        cut: ("unreadable", "cannot open"),
        faststart_cut: ("truncated", "stopped after"),
        tmp_path / "absent.mp4": ("missing", "does not exist"),
    }
    for path, (status, words) in expected.items():
        result = read_window(path, SMALL)
        assert (result.status, path.name) == (status, path.name), result.reason
        assert words in result.reason and str(path) in result.reason
