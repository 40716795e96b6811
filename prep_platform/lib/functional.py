"""The pure operations of a sample's journey, small functions over values (as finetrainers keeps its `functional/`):
the crop geometry, the shot rules and the choice of windows inside shots. No files, no state beyond a detector's
running window.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frame_config import (  # the settings, light: importable without OpenCV
    ADAPTIVE_WINDOW,
    ANALYSIS_WIDTH,
    COMBINED_SPIKE_RATIO,
    EPSILON_S,
    ShotSettings,
)

# --- crop ----------------------------------------------------------------------------------------------------------
# Crop geometry: scale a source frame to cover the target size and cut the centre, never stretching. One
# converter for every reader of windows, so the frame stage's image and the latent stage's frames are the same
# pixels.

def cover_crop_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[float, float, float, float]:
    """The centered source region with the target's aspect ratio: scaling it to the target covers it exactly."""
    scale = max(dst_w / src_w, dst_h / src_h)
    crop_w, crop_h = dst_w / scale, dst_h / scale
    x0, y0 = (src_w - crop_w) / 2, (src_h - crop_h) / 2
    return (x0, y0, x0 + crop_w, y0 + crop_h)


def crop_and_resize(rgb: np.ndarray, box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """Crop the box (rounded to whole pixels) and resize it to width x height: aspect kept, never stretched."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    region = rgb[y0:y1, x0:x1]
    downscale = region.shape[1] > width
    return cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA if downscale else cv2.INTER_LINEAR)


class FrameConverter:
    """Decoded frames -> [H, W, 3] uint8 RGB at the configured size. The crop box comes from the first frame
    converted (or the stream's size, `box_for`); a frame held for several targets is converted once."""

    def __init__(self, config: FrameConfig):
        self.config = config
        self.box: tuple[float, float, float, float] | None = None
        self._last: tuple[object, np.ndarray] | None = None  # (source frame, its pixels)

    def __call__(self, frame) -> np.ndarray:
        if self._last is not None and self._last[0] is frame:
            return self._last[1]
        rgb = frame.to_ndarray(format="rgb24")
        pixels = crop_and_resize(rgb, self.box_for(rgb.shape[1], rgb.shape[0]), self.config.width, self.config.height)
        self._last = (frame, pixels)
        return pixels

    def box_for(self, width: int, height: int) -> tuple[float, float, float, float]:
        if self.box is None:
            self.box = cover_crop_box(width, height, self.config.width, self.config.height)
        return self.box

    def recorded_box(self) -> list[float] | None:
        """The crop box as recorded in rows and headers (x0, y0, x1, y1 in source pixels, 3 decimals)."""
        return [round(v, 3) for v in self.box] if self.box else None


# --- shots ---------------------------------------------------------------------------------------------------------
# Shot boundaries, found from the frames the frame stage decodes anyway, and the choice of training windows
# inside shots: a window that spans a cut teaches the model to cut.
#
# The detector is PySceneDetect's, re-implemented on our own decode loop rather than imported: its `content_val` is
# the mean absolute difference of hue, saturation and value between consecutive frames (ContentDetector, weights
# 1/1/1, no edges), and its two rules are kept as they are:
#
# - content:  a cut where content_val >= `threshold` (ContentDetector, default 27);
# - adaptive: a cut where content_val >= `min_content` (15) and is >= `adaptive_threshold` (3.0) times the mean of
#   the `ADAPTIVE_WINDOW` (2) frames on either side (AdaptiveDetector), which keeps fast camera motion from cutting
#   while catching a cut between two similar shots;
# - combined (the default): the adaptive rule, or the content rule on a frame that also stands out from its
#   neighbours (>= `COMBINED_SPIKE_RATIO` x their mean). The second part finds a hard cut in the middle of fast
#   motion, where the change is well over 27 but not 3x the motion around it; the ratio keeps sustained fast motion
#   (a pan over foliage or a crowd scores 25-30 on every frame) from being cut every `min_shot_s`, which the plain
#   content rule does. A missed cut is what this module exists to prevent; a false one costs a window.
#
# Both rules need `min_shot_s` between cuts (PySceneDetect's min_scene_len: 15 frames at 30 fps). What differs is
# where the HSV comes from: PySceneDetect converts every full frame to BGR and then HSV (0.4 ms per 320x240 frame
# here); we shrink the decoded YUV planes to 64 pixels wide first (INTER_AREA, i.e. block means) and convert that
# (~0.06 ms). A cut changes most blocks; noise and small motion average out in the blocks, so the scores of hard
# cuts and of smooth footage stay far apart, which is all the rules need.

# Pixel formats whose planes are 8-bit Y, U, V (any chroma subsampling): read straight, no conversion.
_PLANAR_YUV8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv440p"})


def _plane(plane) -> np.ndarray:
    """A decoded plane as a view (rows padded to line_size in memory; the padding is cut off, not copied)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


class FrameScorer:
    """content_val of each frame against the previous one (0.0 for the first)."""

    def __init__(self, width: int = ANALYSIS_WIDTH):
        self._width = width
        self._previous: np.ndarray | None = None

    def __call__(self, frame) -> float:
        hsv = self.small_hsv(frame)
        previous, self._previous = self._previous, hsv
        if previous is None:
            return 0.0
        h, s, v, _ = cv2.mean(cv2.absdiff(hsv, previous))
        return (h + s + v) / 3.0

    def small_hsv(self, frame) -> np.ndarray:
        if frame.format.name not in _PLANAR_YUV8:
            frame = frame.reformat(format="yuv420p")  # 10-bit, NV12, RGB...: rare in H.264, converted once
        y, u, v = (_plane(p) for p in frame.planes[:3])
        width = self._width
        height = max(2, int(round(width * frame.height / max(frame.width, 1) / 2)) * 2)
        small = np.concatenate([
            cv2.resize(y, (width, height), interpolation=cv2.INTER_AREA).ravel(),
            cv2.resize(u, (width // 2, height // 2), interpolation=cv2.INTER_AREA).ravel(),
            cv2.resize(v, (width // 2, height // 2), interpolation=cv2.INTER_AREA).ravel(),
        ]).reshape(height * 3 // 2, width)
        return cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_YUV2BGR_I420), cv2.COLOR_BGR2HSV)


class CutDetector:
    """Online cut decisions over (time, content_val) in decode order. `push` returns the frame indices confirmed
    as the first frame of a new shot; with the adaptive rule a decision comes `lag_frames` frames late.
    `finish` decides the last frames."""

    def __init__(self, settings: ShotSettings):
        self._settings = settings
        self.times: list[float] = []  # of every frame pushed (the decode loop reads a cut's time from here)
        self._scores: list[float] = []
        self._next = 1  # the next frame to decide (frame 0 starts the first shot)
        self._last_cut_time = 0.0

    def push(self, time: float, score: float) -> list[int]:
        self.times.append(time)
        self._scores.append(score)
        return self._decide(upto=len(self._scores) - 1 - self._settings.lag_frames)

    def finish(self) -> list[int]:
        return self._decide(upto=len(self._scores) - 1)

    def _decide(self, upto: int) -> list[int]:
        cuts = []
        while self._next <= upto:
            index = self._next
            self._next += 1
            if self.times[index] - self._last_cut_time < self._settings.min_shot_s - EPSILON_S:
                continue
            if self._is_cut(index):
                cuts.append(index)
                self._last_cut_time = self.times[index]
        return cuts

    def _is_cut(self, index: int) -> bool:
        settings, score = self._settings, self._scores[index]
        if settings.detector == "content":
            return score >= settings.threshold
        ratio = self._ratio_to_neighbours(index)
        if score >= settings.min_content and ratio >= settings.adaptive_threshold:
            return True
        return settings.detector == "combined" and score >= settings.threshold and ratio >= COMBINED_SPIKE_RATIO

    def _ratio_to_neighbours(self, index: int) -> float:
        # Frame 0 has no score of its own (nothing before it): the neighbours start at frame 1.
        neighbours = [self._scores[i] for i in range(max(1, index - ADAPTIVE_WINDOW), index + ADAPTIVE_WINDOW + 1)
                      if i != index and i < len(self._scores)]
        mean = sum(neighbours) / len(neighbours) if neighbours else 0.0
        return self._scores[index] / mean if mean >= 1e-5 else 255.0  # PySceneDetect's cap for a still surround


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def as_list(self) -> list[float]:
        return [round(self.start_s, 6), round(self.end_s, 6)]


def shots_from_cuts(cut_times: list[float], end_s: float) -> list[Shot]:
    """Shot k runs from its first frame's time to the next shot's first frame (the last one to the clip's end)."""
    starts = [0.0, *cut_times]
    return [Shot(start, end) for start, end in zip(starts, [*cut_times, end_s]) if end > start]


def anchor_time(shot_start_s: float, m: int, *, window_start_s: float, step_s: float) -> float:
    """Where the m-th window of a shot may start: its start (or `window_start_s` when the shot began earlier), then
    every `step_s` (one window's frames plus one frame interval: windows never share a frame). The frame stage
    keeps the frames at these times while it decodes (generating them one at a time as the clip plays, so the work
    is linear in its frames), and `window_anchors` picks from the same times."""
    return max(shot_start_s, window_start_s) + m * step_s


def fits(start_s: float, span_s: float, end_s: float) -> bool:
    """A window's last frame is taken at start + span_s and must still come before `end_s` (a cut or the clip's
    end), with the tolerance of frame selection."""
    return start_s + span_s + EPSILON_S < end_s


def window_anchors(shot: Shot, *, window_start_s: float, span_s: float, step_s: float, limit: int) -> list[float]:
    """Start times of up to `limit` non-overlapping windows inside `shot` (later starts fit even less: stop at the
    first that does not)."""
    starts = []
    for m in range(limit):
        start = anchor_time(shot.start_s, m, window_start_s=window_start_s, step_s=step_s)
        if not fits(start, span_s, shot.end_s):
            break
        starts.append(start)
    return starts


@dataclass(frozen=True)
class PlannedWindow:
    start_s: float
    shot_index: int


def plan_windows(shots: list[Shot], settings: ShotSettings, *, window_start_s: float, span_s: float,
                 step_s: float) -> list[PlannedWindow]:
    """The clean windows a clip gives: the first shots long enough (or the longest first), up to
    `windows_per_clip`, in that order (the first is the clip's primary sample)."""
    order = list(range(len(shots)))
    if settings.window_policy == "longest":
        order.sort(key=lambda k: (-shots[k].length_s, k))
    chosen: list[PlannedWindow] = []
    for k in order:
        room = settings.windows_per_clip - len(chosen)
        if room <= 0:
            break
        for start in window_anchors(shots[k], window_start_s=window_start_s, span_s=span_s, step_s=step_s, limit=room):
            chosen.append(PlannedWindow(start, k))
    return chosen


def best_unclean_start(shots: list[Shot], *, window_start_s: float, span_s: float, clip_end_s: float) -> float:
    """Where to put a window when no shot holds one: the start of the longest shot that leaves room for the window
    before the clip's end, else the latest start that fits (the window then ends the clip)."""
    fitting = [shot for shot in shots if fits(max(shot.start_s, window_start_s), span_s, clip_end_s)]
    if fitting:
        best = max(fitting, key=lambda shot: (shot.end_s - max(shot.start_s, window_start_s), -shot.start_s))
        return max(best.start_s, window_start_s)
    return window_start_s


def cuts_inside(shots: list[Shot], start_s: float, span_s: float) -> list[float]:
    """The cut times a window from start_s spans."""
    return [shot.start_s for shot in shots[1:] if start_s + EPSILON_S < shot.start_s <= start_s + span_s + EPSILON_S]


def shot_index_at(shots: list[Shot], time_s: float) -> int:
    for index, shot in enumerate(shots):
        if shot.start_s - EPSILON_S <= time_s < shot.end_s - EPSILON_S:
            return index
    return len(shots) - 1
