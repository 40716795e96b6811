"""The frame stage's scan of a clip: decode it once, find its shots while decoding, and choose the windows inside
them, keeping only the frames where a window may start (so memory does not grow with the clip)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prep_platform.lib.sample import WINDOW_FACTS
from prep_platform.lib.statuses import NO_CLEAN_WINDOW
from prep_platform.lib.functional import FrameConverter
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import OK, TOO_SHORT, TRUNCATED, UNREADABLE
from prep_platform.lib.frame_config import EPSILON_S, ShotSettings
from prep_platform.lib.functional import (
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
from prep_platform.lib.frames.read import SampleAndHold, clip_frames
from prep_platform.lib.frames.read import WindowResult, decode_problem, read_window, too_short_reason, truncated_reason


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
        for key in (*WINDOW_FACTS, "padded_frames", "status", "reason"):
            facts.pop(key, None)
        return {**facts, "shots": [shot.as_list() for shot in self.shots], "shot_detection": self.shot_detection}


def scan_clip(path: Path | str, config: FrameConfig, settings: ShotSettings) -> ClipScan:
    """Decode the whole clip once: count its frames, find its shots (from small copies of the frames, while
    decoding) and choose up to `windows_per_clip` windows inside shots (`window_policy`). Only the frames where a
    window may start are kept, so memory does not grow with the clip. A clip with no shot long enough gets
    `no_clean_window` (or, with `unclean_window="keep"`, its best window, marked)."""
    path = Path(path)
    # Frames without a timestamp are placed 0 s apart until two have been seen (the scan's rule before the split).
    with clip_frames(path, frame_duration_s=0.0) as (frames, status, reason):
        if frames is None:
            return ClipScan(status, reason)
        facts = WindowResult.of_stream(frames.facts)
        scan = _ShotScan(config, settings)
        for time, frame in frames:
            scan.add(time, frame)
    facts.decoded_frames = frames.decoded
    if frames.decoded == 0:
        return ClipScan(UNREADABLE, f"{path}: no decodable video frame" + (f" ({frames.error})" if frames.error else ""), facts)
    shots = scan.finish(frames.end_time(1 / config.fps))
    result = ClipScan(OK, facts=facts, shots=shots, shot_detection=settings.detection_record())
    facts.warning = decode_problem(frames.error, facts.declared_frames, frames.decoded)
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
    if facts.source_width and facts.source_height:
        scan.convert.box_for(facts.source_width, facts.source_height)
    return WindowResult(
        OK, source_fps=facts.source_fps, decoded_frames=facts.decoded_frames, declared_frames=facts.declared_frames,
        source_width=facts.source_width, source_height=facts.source_height, window_start_s=window.start_s,
        window_end_s=window.start_s + span, crop_box=scan.convert.recorded_box(),
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
        result.status, result.reason = TRUNCATED, truncated_reason(path, facts.warning, config, start)
        return result
    if not config.pad_short or have == 0:
        result.status, result.reason = TOO_SHORT, too_short_reason(path, available, start, config, have)
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
        self.convert = FrameConverter(config)
        self.cut_times: list[float] = []
        self.held: dict[float, object] = {}  # window start time -> the frame shown at that instant
        self._recent: deque = deque(maxlen=settings.lag_frames + 2)  # (time, frame): a late cut's first frame
        self._hold = SampleAndHold()  # window start times not reached yet
        self._shot_starts: list[float] = []  # window start times of the current shot
        self._step = config.span_s + 1 / config.fps
        self.end_time = 0.0
        self._open_shot(0.0)

    def add(self, time: float, frame) -> None:
        for when, held in self._hold.push(time, frame):
            self.held[when] = held
            if when == self._next_anchor_after:
                self._queue_next_anchor()  # may want a start time this frame decides too
        self._recent.append((time, frame))
        if self.detector is not None:
            for index in self.detector.push(time, self.scorer(frame)):
                self._cut_at(self.detector.times[index])

    def finish(self, end_time: float) -> list[Shot]:
        self.end_time = end_time
        if self.detector is not None:
            for index in self.detector.finish():
                self._cut_at(self.detector.times[index])
        # start times past the last frame's start: it is still shown there
        self.held.update(self._hold.finish(self.end_time))
        self._prune(self.end_time)
        return shots_from_cuts(self.cut_times, self.end_time)

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
            self._hold.want(when)
            self._next_anchor_after = when  # reached: the shot's next start time is queued
            return

    def _prune(self, shot_end: float) -> None:
        """The shot ended at `shot_end`: forget its start times whose window does not fit in it. The configured
        start is kept: a short clip's padded window and a kept unclean window may still start there."""
        for when in self._shot_starts:
            if not fits(when, self.config.span_s, shot_end) and when != self.config.window_start_s:
                self.held.pop(when, None)
                self._hold.forget(when)
