"""A clip's training window: decode, resample by time to the target fps, scale to cover and center-crop, and
take exactly F frames. Never raises for a bad clip: the result carries a status and reason.

Resampling is by presentation time, not by index stride: target k sits at t0 + k / fps and takes the last
source frame shown at that instant (sample-and-hold), so 15, 25, 29.97 fps and variable-frame-rate clips all
give the same motion speed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from prep_platform.lib.statuses import NO_CLEAN_WINDOW
from prep_platform.lib.video.frame_config import FrameConfig
from prep_platform.lib.video.probe import OK, TOO_SHORT, TRUNCATED, UNREADABLE, open_video
from prep_platform.lib.video.shot_settings import EPSILON_S, ShotSettings
from prep_platform.lib.video.shots import (
    CutDetector,
    FrameScorer,
    PlannedWindow,
    Shot,
    anchor_time,
    best_unclean_start,
    cuts_inside,
    fits,
    plan_windows,
    shot_index_at,
    shots_from_cuts,
)

@dataclass
class WindowResult:
    status: str
    reason: str = ""
    source_fps: float | None = None
    decoded_frames: int = 0  # frames actually decoded (all of them when count_all)
    declared_frames: int | None = None  # what the container header claims
    source_width: int | None = None
    source_height: int | None = None
    window_start_s: float | None = None
    window_end_s: float | None = None
    crop_box: list[float] | None = None  # x0, y0, x1, y1 in source pixels
    padded_frames: int = 0
    window_index: int = 0  # 0: the clip's primary window; k > 0: the sample <id>__w<k>
    shot_index: int | None = None  # the shot the window lies in (shot detection on)
    shot: list[float] | None = None  # that shot's [start, end] in seconds
    clean_window: bool | None = None  # False: no shot held a window and the best one was kept, spanning cuts
    cuts_in_window: list[float] | None = None
    warning: str = ""
    frames: np.ndarray | None = field(default=None, repr=False)  # [F, H, W, 3] uint8 RGB
    first_frame: np.ndarray | None = field(default=None, repr=False)  # [H, W, 3] uint8 RGB

    def record(self) -> dict:
        """What is kept about the clip (no pixels)."""
        return {k: v for k, v in asdict(self).items() if k not in ("frames", "first_frame")}


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


def read_window(
    path: Path | str, config: FrameConfig, *, want_frames: bool = False, count_all: bool = True,
    start_s: float | None = None,
) -> WindowResult:
    """Decode `path` and select the window. With `want_frames`, the F frames come back resized and cropped;
    the first frame of the window always does (it is the conditioning image). With `count_all`, decoding
    continues past the window so `decoded_frames` is the clip's real frame count. `start_s` (seconds after the
    first frame) replaces the configuration's window start: the window the frame stage chose inside a shot."""
    path = Path(path)
    container, status, reason = open_video(path)
    if container is None:
        return WindowResult(status, reason)
    with container:
        stream = container.streams.video[0]
        result = _stream_facts(stream)
        start = config.window_start_s if start_s is None else start_s
        return _select(container, stream, path, config, result, want_frames, count_all, start)


def _stream_facts(stream) -> WindowResult:
    """What the container says about the video stream; decoding set to one thread."""
    stream.codec_context.thread_count = 1  # parallelism comes from worker processes, one clip each
    rate = stream.average_rate or stream.guessed_rate
    return WindowResult(OK, source_fps=float(rate) if rate else None, declared_frames=stream.frames or None,
                        source_width=stream.codec_context.width, source_height=stream.codec_context.height)


def _select(container, stream, path: Path, config: FrameConfig, result: WindowResult, want_frames: bool,
            count_all: bool, start_s: float):
    n = config.frames
    chosen: list[np.ndarray | None] = [None] * n
    next_target = 0
    first_time = t0 = None
    prev_frame = prev_time = None
    prev_rgb: tuple | None = None  # (source frame, its converted pixels)
    box = None
    last_duration = 1.0 / result.source_fps if result.source_fps else 0.0
    error = ""

    def convert(frame) -> np.ndarray:
        nonlocal box
        rgb = frame.to_ndarray(format="rgb24")
        if box is None:
            box = cover_crop_box(rgb.shape[1], rgb.shape[0], config.width, config.height)
        return crop_and_resize(rgb, box, config.width, config.height)

    def assign(frame, index: int) -> None:
        nonlocal prev_rgb
        # Only frames that land in the window are converted; a frame held for several targets converts once.
        if index == 0 or want_frames:
            if prev_rgb is None or prev_rgb[0] is not frame:
                prev_rgb = (frame, convert(frame))
            chosen[index] = prev_rgb[1]
        else:
            chosen[index] = _PLACEHOLDER

    try:
        for frame in container.decode(stream):
            time = frame.time if frame.time is not None else result.decoded_frames * last_duration
            result.decoded_frames += 1
            if first_time is None:
                first_time = time
                t0 = first_time + start_s
            if prev_frame is not None and time > prev_time:
                last_duration = time - prev_time
            # A target at t takes the last frame shown at t: the previous frame once this one starts after t.
            # (The first frame starts at or before t0, so `prev_frame` is set whenever this loop runs.)
            while next_target < n and time > t0 + next_target / config.fps + EPSILON_S:
                assign(prev_frame, next_target)
                next_target += 1
            prev_frame, prev_time = frame, time
            if next_target >= n and not count_all:
                break
    except (av.error.FFmpegError, OSError) as exc:
        error = f"decoding stopped after {result.decoded_frames} frames: {exc}"

    if result.decoded_frames == 0:
        result.status, result.reason = UNREADABLE, f"{path}: no decodable video frame" + (f" ({error})" if error else "")
        return result
    # The last frame is shown until its end: it covers the targets up to there.
    end_time = prev_time + (last_duration or 0.0)
    while next_target < n and t0 + next_target / config.fps < end_time - EPSILON_S:
        assign(prev_frame, next_target)
        next_target += 1

    detail = _decode_problem(error, result.declared_frames if count_all else None, result.decoded_frames)
    if detail:
        if next_target < n:
            result.status, result.reason = TRUNCATED, _truncated_reason(path, detail, config, start_s)
            return result
        result.warning = detail  # the window is complete: usable, but recorded

    missing = n - next_target
    if missing:
        available = max(0.0, end_time - t0)
        if not config.pad_short or next_target == 0:
            result.status, result.reason = TOO_SHORT, _too_short_reason(path, available, start_s, config, next_target)
            return result
        for index in range(next_target, n):
            chosen[index] = chosen[next_target - 1]
        result.padded_frames = missing

    # Recorded exactly (JSON keeps a float's every digit): the latent stage reads the same window from it.
    result.window_start_s = start_s
    result.window_end_s = start_s + config.span_s
    result.crop_box = [round(v, 3) for v in box] if box else None
    result.first_frame = chosen[0]
    if want_frames:
        result.frames = np.stack(chosen)
    return result


_PLACEHOLDER = np.zeros((0,), np.uint8)


def _decode_problem(error: str, declared: int | None, decoded: int) -> str:
    """Why the decode is incomplete ("" when it is not): an error, or fewer frames than the container declares."""
    if error:
        return error
    if declared and decoded < declared:
        return f"the container declares {declared} frames but only {decoded} decode"
    return ""


def _truncated_reason(path: Path, detail: str, config: FrameConfig, start_s: float) -> str:
    return f"{path}: {detail}; the {config.frames}-frame window needs {config.span_s:.3f} s from {start_s:.3f} s"


def _too_short_reason(path: Path, available: float, start_s: float, config: FrameConfig, have: int) -> str:
    # The rule the selection applies: the last frame sits at start + span, so the video must run past it (the same
    # figure the probe states when it turns a clip away).
    return (f"{path}: {available:.3f} s of video from {start_s:.3f} s, the {config.frames}-frame window at "
            f"{config.fps:g} fps needs more than {config.span_s:.3f} s ({have} of {config.frames} frames)")


@dataclass
class ClipScan:
    """A clip scanned once by the frame stage: its shots and the windows chosen inside them (each with its
    conditioning image), or the clip's failure status and reason."""

    status: str
    reason: str = ""
    facts: WindowResult | None = None  # source fps, frame counts, size, crop box, warning
    shots: list[Shot] = field(default_factory=list)
    windows: list[WindowResult] = field(default_factory=list)
    shot_detection: dict = field(default_factory=dict)

    def clip_record(self) -> dict:
        """What is kept about the clip, shared by its windows' rows (no pixels, no per-window fields)."""
        facts = self.facts.record() if self.facts else {}
        for key in ("window_start_s", "window_end_s", "padded_frames", "window_index", "shot_index", "shot",
                    "clean_window", "cuts_in_window", "status", "reason"):
            facts.pop(key, None)
        return {**facts, "shots": [shot.as_list() for shot in self.shots], "shot_detection": self.shot_detection}


def scan_clip(path: Path | str, config: FrameConfig, settings: ShotSettings) -> ClipScan:
    """Decode the whole clip once: count its frames, find its shots (from small copies of the frames, while
    decoding) and choose up to `windows_per_clip` windows inside shots (`window_policy`). Only the frames where a
    window may start are kept, so memory does not grow with the clip. A clip with no shot long enough gets
    `no_clean_window` (or, with `unclean_window="keep"`, its best window, marked)."""
    path = Path(path)
    container, status, reason = open_video(path)
    if container is None:
        return ClipScan(status, reason)
    with container:
        stream = container.streams.video[0]
        facts = _stream_facts(stream)
        scan = _ShotScan(config, settings)
        error = ""
        try:
            for frame in container.decode(stream):
                scan.add(frame)
        except (av.error.FFmpegError, OSError) as exc:
            error = f"decoding stopped after {scan.decoded} frames: {exc}"
    facts.decoded_frames = scan.decoded
    if scan.decoded == 0:
        return ClipScan(UNREADABLE, f"{path}: no decodable video frame" + (f" ({error})" if error else ""), facts)
    shots = scan.finish()
    result = ClipScan(OK, facts=facts, shots=shots, shot_detection=settings.detection_record())
    facts.warning = _decode_problem(error, facts.declared_frames, scan.decoded)
    window_start, span, n = config.window_start_s, config.span_s, config.frames
    if not fits(window_start, span, scan.end_time):
        return _short_clip(result, scan, path, config)
    planned = plan_windows(shots, settings, window_start_s=window_start, span_s=span, step_s=span + 1 / config.fps)
    if not planned:
        lengths = ", ".join(f"{shot.length_s:.2f}" for shot in shots)
        cuts = ", ".join(f"{shot.start_s:.2f}" for shot in shots[1:])
        reason = (f"{path}: no shot holds the {n}-frame window ({span + 1 / config.fps:.3f} s at {config.fps:g} fps"
                  + (f" from {window_start:.3f} s" if window_start else "")
                  + f"): {len(shots)} shots of {lengths} s (cuts at {cuts} s)")
        if settings.unclean_window == "drop":
            result.status, result.reason = NO_CLEAN_WINDOW, reason
            return result
        start = best_unclean_start(shots, window_start_s=window_start, span_s=span, clip_end_s=scan.end_time)
        planned = [PlannedWindow(start, shot_index_at(shots, start))]
        facts.warning = "; ".join(filter(None, [facts.warning, f"kept a window spanning cuts: {reason}"]))
    for index, window in enumerate(planned):
        frame = scan.held.get(window.start_s)
        first = scan.convert(frame) if frame is not None else _first_frame_at(path, config, window.start_s)
        if first is None:
            result.status, result.reason = UNREADABLE, f"{path}: the frame at {window.start_s:.3f} s cannot be read again"
            return result
        result.windows.append(_window_result(facts, scan, shots, window, index, first, span))
    return result


def _window_result(facts: WindowResult, scan, shots: list[Shot], window: PlannedWindow, index: int,
                   first_frame: np.ndarray, span: float, padded: int = 0) -> WindowResult:
    cuts = cuts_inside(shots, window.start_s, span)
    if scan.box is None and facts.source_width and facts.source_height:
        scan.box = cover_crop_box(facts.source_width, facts.source_height, scan.config.width, scan.config.height)
    return WindowResult(
        OK, source_fps=facts.source_fps, decoded_frames=facts.decoded_frames, declared_frames=facts.declared_frames,
        source_width=facts.source_width, source_height=facts.source_height, window_start_s=window.start_s,
        window_end_s=window.start_s + span, crop_box=[round(v, 3) for v in scan.box] if scan.box else None,
        padded_frames=padded, window_index=index, shot_index=window.shot_index,
        shot=shots[window.shot_index].as_list(), clean_window=(not cuts) if scan.settings.enabled else None,
        cuts_in_window=[round(c, 6) for c in cuts],
        warning=facts.warning, first_frame=first_frame,
    )


def _short_clip(result: ClipScan, scan, path: Path, config: FrameConfig) -> ClipScan:
    """The clip cannot hold the window from the configured start at all: truncated, too short or, with
    `pad_short`, one window padded with the last frame (inside one shot, like any other)."""
    facts, start, n = result.facts, config.window_start_s, config.frames
    available = max(0.0, scan.end_time - start)
    have = sum(1 for k in range(n) if start + k / config.fps < scan.end_time - EPSILON_S)
    if facts.warning:  # the decode stopped early or fell short of the declared frames
        result.status, result.reason = TRUNCATED, _truncated_reason(path, facts.warning, config, start)
        return result
    if not config.pad_short or have == 0:
        result.status, result.reason = TOO_SHORT, _too_short_reason(path, available, start, config, have)
        return result
    cuts = cuts_inside(result.shots, start, config.span_s)
    if cuts and result.shot_detection.get("detector") != "none" and scan.settings.unclean_window == "drop":
        result.status = NO_CLEAN_WINDOW
        result.reason = (f"{path}: the padded window of this short clip ({available:.3f} s from {start:.3f} s) spans "
                         f"the cuts at {', '.join(f'{c:.2f}' for c in cuts)} s")
        return result
    frame = scan.held.get(start)
    window = PlannedWindow(start, shot_index_at(result.shots, start))
    result.windows.append(_window_result(facts, scan, result.shots, window, 0, scan.convert(frame), config.span_s,
                                         padded=n - have))
    return result


def _first_frame_at(path: Path, config: FrameConfig, start_s: float) -> np.ndarray | None:
    """The conditioning image of a window whose first frame was not kept while scanning (a kept unclean window):
    decoded again, up to that frame."""
    again = read_window(path, config, start_s=start_s, count_all=False)
    return again.first_frame


class _ShotScan:
    """The per-frame work of `scan_clip`: times, scores, cuts as they are confirmed, and the frames at the times
    where a window may start (dropped again when their window cannot fit in the shot)."""

    def __init__(self, config: FrameConfig, settings: ShotSettings):
        self.config, self.settings = config, settings
        self.scorer = FrameScorer() if settings.enabled else None
        self.detector = CutDetector(settings) if settings.enabled else None
        self.decoded = 0
        self._last_time = 0.0
        self.cut_times: list[float] = []
        self.held: dict[float, object] = {}  # window start time -> the frame shown at that instant
        self.box: tuple[float, float, float, float] | None = None
        self._first_time: float | None = None
        self._last_duration = 0.0
        self._recent: deque = deque(maxlen=settings.lag_frames + 2)  # (time, frame): a late cut's first frame
        self._pending: list[float] = []  # window start times not reached yet
        self._shot_starts: list[float] = []  # window start times of the current shot
        self._step = config.span_s + 1 / config.fps
        self.end_time = 0.0
        self._open_shot(0.0)

    def add(self, frame) -> None:
        if self._first_time is None:
            self._first_time = frame.time if frame.time is not None else 0.0
        time = (frame.time - self._first_time) if frame.time is not None else self.decoded * self._last_duration
        if self._recent and time > self._recent[-1][0]:
            self._last_duration = time - self._recent[-1][0]
        # A start time is shown by the last frame at or before it: the previous frame once this one is later.
        while self._pending and time > self._pending[0] + EPSILON_S:
            when = self._pending.pop(0)
            self.held[when] = self._recent[-1][1] if self._recent else frame
            if when == self._next_anchor_after:
                self._queue_next_anchor()
        self._recent.append((time, frame))
        self._last_time = time
        self.decoded += 1
        if self.detector is not None:
            for index in self.detector.push(time, self.scorer(frame)):
                self._cut_at(self.detector.times[index])

    def finish(self) -> list[Shot]:
        self.end_time = self._last_time + (self._last_duration or (1 / self.config.fps))
        if self.detector is not None:
            for index in self.detector.finish():
                self._cut_at(self.detector.times[index])
        for start in self._pending:  # start times past the last frame's start: it is still shown there
            if start < self.end_time - EPSILON_S:
                self.held[start] = self._recent[-1][1]
        self._pending = []
        self._prune(self.end_time)
        return shots_from_cuts(self.cut_times, self.end_time)

    def convert(self, frame) -> np.ndarray:
        rgb = frame.to_ndarray(format="rgb24")
        if self.box is None:
            self.box = cover_crop_box(rgb.shape[1], rgb.shape[0], self.config.width, self.config.height)
        return crop_and_resize(rgb, self.box, self.config.width, self.config.height)

    def _cut_at(self, time: float) -> None:
        self.cut_times.append(time)
        self._prune(time)
        self._open_shot(time)

    def _open_shot(self, start: float) -> None:
        """A shot starts at `start`: its window start times are made one at a time, the next one only once the
        clip has played past the previous one, so a large windows_per_clip costs nothing on a short shot."""
        self._shot_start = start
        self._shot_starts = []
        self._next_anchor_after = None
        self._queue_next_anchor()

    def _queue_next_anchor(self) -> None:
        while len(self._shot_starts) < self.settings.windows_per_clip:
            when = anchor_time(self._shot_start, len(self._shot_starts), window_start_s=self.config.window_start_s,
                               step_s=self._step)
            self._shot_starts.append(when)
            # The frame for `when` may already be here (a cut is confirmed a few frames late): the last one at or
            # before it, provided a later frame has arrived; otherwise it is awaited.
            if self._recent and self._recent[-1][0] > when + EPSILON_S:
                earlier = [frame for time, frame in self._recent if time <= when + EPSILON_S]
                if earlier:
                    self.held[when] = earlier[-1]
                    continue
            self._pending.append(when)
            self._pending.sort()
            self._next_anchor_after = when  # reached: the shot's next start time is queued
            return

    def _prune(self, shot_end: float) -> None:
        """The shot ended at `shot_end`: forget its start times whose window does not fit in it. The configured
        start is kept: a short clip's padded window and a kept unclean window may still start there."""
        for when in self._shot_starts:
            if not fits(when, self.config.span_s, shot_end) and when != self.config.window_start_s:
                self.held.pop(when, None)
                if when in self._pending:
                    self._pending.remove(when)
