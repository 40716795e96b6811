"""Shot-aware windows on synthetic H.264 clips with known cuts: the chosen window never spans a cut (checked frame
by frame on the decoded window), a fade does not fragment a clip, a clip without cuts is unchanged."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from prep_platform.samples.synthetic_clips import scene_of, write_clip, write_shots_clip
from prep_platform.lib.statuses import NO_CLEAN_WINDOW
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.scan import scan_clip
from prep_platform.lib.frames.read import read_window

SMALL = FrameConfig(width=144, height=96)  # 49 frames at 8 fps: a window spans 6.0 s and needs 6.125 s
FRAME_S = 1 / 30


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shots")
    made = {}
    for name, shots, fade in [("two_cuts", [2.5, 8.0, 4.5], 0.0), ("every_2s", [2.0] * 7, 0.0),
                              ("fade", [7.5, 7.5], 1.5), ("no_cut", [15.0], 0.0), ("long", [4.0, 19.0], 0.0),
                              ("short_then_long", [7.0, 2.0, 10.0], 0.0)]:
        path = folder / f"{name}.mp4"
        labels = write_shots_clip(path, shots, fade_s=fade, seed=len(made))
        made[name] = (path, labels, np.cumsum(shots)[:-1].tolist())
    return made


def _window_scenes(path, start_s: float, config: FrameConfig = SMALL) -> list[int]:
    """The shot each of the window's decoded frames shows (by its colour), frame by frame."""
    window = read_window(path, config, want_frames=True, count_all=False, start_s=start_s)
    assert window.status == "ok", window.reason
    return [scene_of(frame) for frame in window.frames]


def _source_frames(start_s: float, config: FrameConfig = SMALL) -> list[int]:
    """The source frame (30 fps) each target takes: the last one shown at start + k / fps."""
    return [int(np.floor((start_s + k / config.fps) / FRAME_S + 1e-6)) for k in range(config.frames)]


@pytest.mark.parametrize("detector", ["combined", "adaptive"])
def test_the_window_lies_inside_one_shot_between_hard_cuts(clips, detector):
    path, labels, cuts = clips["two_cuts"]
    scan = scan_clip(path, SMALL, ShotSettings(detector=detector))
    assert scan.status == "ok", scan.reason
    # The cuts are found at the frames where the scenes change (within one frame).
    found = [shot.start_s for shot in scan.shots[1:]]
    assert len(found) == len(cuts) and np.allclose(found, cuts, atol=FRAME_S + 1e-6)
    [window] = scan.windows
    # The first shot (2.5 s) is too short; the window starts where the second begins and ends before the third.
    assert window.window_start_s == pytest.approx(2.5, abs=FRAME_S) and window.shot_index == 1
    assert window.clean_window is True and window.cuts_in_window == []
    assert window.window_end_s < scan.shots[1].end_s
    # Frame by frame: every source frame the window takes belongs to shot 1, and so does every decoded frame.
    assert {labels[i] for i in _source_frames(window.window_start_s)} == {1}
    assert set(_window_scenes(path, window.window_start_s)) == {1}
    # The conditioning image is the window's first frame, exactly.
    again = read_window(path, SMALL, count_all=False, start_s=window.window_start_s)
    assert np.array_equal(again.first_frame, window.first_frame)


def test_without_shot_detection_the_same_clip_is_windowed_across_the_cut(clips):
    """The test above can fail: the plain first window of this clip spans the cut at 2.5 s."""
    path, labels, _ = clips["two_cuts"]
    scan = scan_clip(path, SMALL, ShotSettings(detector="none"))
    assert scan.windows[0].window_start_s == 0.0 and scan.windows[0].clean_window is None
    assert set(_window_scenes(path, 0.0)) == {0, 1}


def test_a_cut_every_two_seconds_leaves_no_clean_window_and_says_why(clips):
    path, _, cuts = clips["every_2s"]
    scan = scan_clip(path, SMALL, ShotSettings())
    assert scan.status == NO_CLEAN_WINDOW and scan.windows == []
    assert len(scan.shots) == 7
    assert "7 shots of 2.00, 2.00, 2.00, 2.00, 2.00, 2.00, 2.00 s" in scan.reason and str(path) in scan.reason
    assert "6.125 s at 8 fps" in scan.reason


def test_keeping_the_best_unclean_window_marks_it(clips):
    path, labels, _ = clips["every_2s"]
    scan = scan_clip(path, SMALL, ShotSettings(unclean_window="keep"))
    assert scan.status == "ok"
    [window] = scan.windows
    assert window.clean_window is False and len(window.cuts_in_window) == 3
    assert "kept a window spanning cuts" in window.warning
    # Its conditioning image is the frame at its start, even though the scan did not keep that frame.
    again = read_window(path, SMALL, count_all=False, start_s=window.window_start_s)
    assert np.array_equal(again.first_frame, window.first_frame)


def test_a_fade_does_not_fragment_the_clip(clips):
    path, labels, _ = clips["fade"]
    scan = scan_clip(path, SMALL, ShotSettings(windows_per_clip=4))
    assert scan.status == "ok" and len(scan.shots) <= 2, [s.as_list() for s in scan.shots]
    assert len(scan.windows) == 2
    for window in scan.windows:
        # The fade (6.75-8.25 s, black at 7.5 s) is one transition, placed somewhere inside it; outside it no window
        # shows both scenes.
        sources = [i for i in _source_frames(window.window_start_s) if not 6.75 <= i * FRAME_S <= 8.25]
        assert len({labels[i] for i in sources}) == 1


def test_a_clip_without_cuts_is_unchanged(clips, tmp_path):
    for path in (clips["no_cut"][0], tmp_path / "flat.mp4"):
        if not path.exists():
            write_clip(path, fps=Fraction(30000, 1001), seconds=12.0)  # the timestamp-coded grey clip
        scan = scan_clip(path, SMALL, ShotSettings())
        assert scan.status == "ok" and len(scan.shots) == 1
        [window] = scan.windows
        plain = read_window(path, SMALL, want_frames=True)
        assert window.window_start_s == plain.window_start_s == 0.0 and window.window_end_s == plain.window_end_s
        assert np.array_equal(window.first_frame, plain.first_frame)
        assert scan.facts.decoded_frames == plain.decoded_frames
        again = read_window(path, SMALL, want_frames=True, start_s=window.window_start_s)
        assert np.array_equal(again.frames, plain.frames)


def test_several_windows_per_clip_do_not_overlap_and_stay_in_shots(clips):
    path, labels, _ = clips["long"]  # a 4 s shot, then 19 s
    scan = scan_clip(path, SMALL, ShotSettings(windows_per_clip=5))
    starts = [w.window_start_s for w in scan.windows]
    # Three windows fit in the 19 s shot (3 x 6.125 s); none in the 4 s one.
    assert [w.window_index for w in scan.windows] == [0, 1, 2] and {w.shot_index for w in scan.windows} == {1}
    assert np.allclose(np.diff(starts), 6.125)
    taken = [set(_source_frames(s)) for s in starts]
    assert all(not (a & b) for i, a in enumerate(taken) for b in taken[i + 1:])  # no frame in two windows
    for start in starts:
        assert {labels[i] for i in _source_frames(start)} == {1}
        assert set(_window_scenes(path, start)) == {1}


def test_first_or_longest_shot(clips):
    path, labels, cuts = clips["short_then_long"]  # 7 s, 2 s, 10 s
    first = scan_clip(path, SMALL, ShotSettings(window_policy="first"))
    longest = scan_clip(path, SMALL, ShotSettings(window_policy="longest"))
    assert first.windows[0].window_start_s == 0.0 and first.windows[0].shot_index == 0
    assert longest.windows[0].window_start_s == pytest.approx(9.0, abs=FRAME_S) and longest.windows[0].shot_index == 2
    assert set(_window_scenes(path, longest.windows[0].window_start_s)) == {2}


def test_the_configured_window_start_still_applies_inside_shots(clips):
    path, labels, _ = clips["long"]
    config = FrameConfig(width=144, height=96, window_start_s=6.0)
    scan = scan_clip(path, config, ShotSettings())
    assert scan.windows[0].window_start_s == 6.0 and scan.windows[0].shot_index == 1


def test_windows_per_clip_is_bounded_and_window_starts_are_made_as_the_clip_plays(capsys):
    """A huge windows_per_clip is refused (one line, exit 2) above the documented bound; within it, the scan holds
    only the start times the clip has reached (linear in its frames, not in the setting)."""
    import pydantic

    from prep_platform.data_prep import preprocess_video_latents
    from prep_platform.lib.settings import PrepSettings
    from prep_platform.lib.frame_config import MAX_WINDOWS_PER_CLIP, ShotSettings
    from prep_platform.lib.frame_config import FrameConfig
    from prep_platform.lib.frames.scan import _ShotScan

    with pytest.raises(pydantic.ValidationError, match="windows_per_clip"):
        PrepSettings(windows_per_clip=MAX_WINDOWS_PER_CLIP + 1)
    with pytest.raises(ValueError, match=f"1..{MAX_WINDOWS_PER_CLIP}"):
        ShotSettings(windows_per_clip=10**6)
    with pytest.raises(SystemExit) as exit_:
        preprocess_video_latents.build_parser().parse(["--windows-per-clip", "1000000"])
    assert exit_.value.code == 2 and "--windows-per-clip" in capsys.readouterr().err

    class Frame:  # a decoded frame: with detection off the scan reads only the time it comes with
        pass

    config = FrameConfig(fps=8, width=64, height=48, frames=9)  # windows of 1 s, a start every 1.125 s
    scan = _ShotScan(config, ShotSettings(detector="none", windows_per_clip=MAX_WINDOWS_PER_CLIP))
    most_pending = 0
    for k in range(24 * 20):  # 20 s at 24 fps
        scan.add(k / 24, Frame())
        most_pending = max(most_pending, len(scan._hold.pending))
        assert len(scan._shot_starts) <= k / 24 / 1.125 + 2  # only the starts reached so far, plus the next one
    shots = scan.finish(20.0)  # the last frame (at 479/24 s) is shown until 20 s
    assert most_pending == 1 and len(shots) == 1
    assert len(scan.held) == 17  # starts at 0, 1.125, ..., 18.0 s whose 1 s window fits in 20 s
