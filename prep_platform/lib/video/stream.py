"""One way to open a clip and walk its frames (`clip_frames`), and one rule for which frame a time takes
(`SampleAndHold`), shared by the window reader and the shot scan.

Resampling is by presentation time, not by index stride: a target time takes the last source frame shown at that
instant, so 15, 25, 29.97 fps and variable-frame-rate clips all give the same motion speed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av

from prep_platform.lib.video.probe import open_video
from prep_platform.lib.video.shot_settings import EPSILON_S


@dataclass
class StreamFacts:
    """What the container says about the video stream."""

    source_fps: float | None
    declared_frames: int | None
    source_width: int | None
    source_height: int | None


class ClipFrames:
    """An opened clip's video stream and its frames with their times, in seconds from the first frame. Decoding
    runs on one thread: parallelism comes from worker processes, one clip each. A decode that stops early ends the
    walk and leaves the reason in `error` (the frames before it are good)."""

    def __init__(self, container, frame_duration_s: float | None = None):
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.codec_context.thread_count = 1
        rate = self._stream.average_rate or self._stream.guessed_rate
        context = self._stream.codec_context
        self.facts = StreamFacts(float(rate) if rate else None, self._stream.frames or None, context.width, context.height)
        self.decoded = 0
        self.error = ""
        self.last_time = 0.0
        # The interval between the last two frames (at first the stream's nominal one, unless told otherwise):
        # the last frame is shown that long, and a frame without a timestamp is placed by it.
        self.frame_duration_s = frame_duration_s if frame_duration_s is not None else (
            1.0 / self.facts.source_fps if self.facts.source_fps else 0.0)

    def __iter__(self) -> Iterator[tuple[float, object]]:
        first_time = None
        try:
            for frame in self._container.decode(self._stream):
                if first_time is None:
                    first_time = frame.time if frame.time is not None else 0.0
                time = frame.time - first_time if frame.time is not None else self.decoded * self.frame_duration_s
                if self.decoded and time > self.last_time:
                    self.frame_duration_s = time - self.last_time
                self.decoded += 1
                self.last_time = time
                yield time, frame
        except (av.error.FFmpegError, OSError) as exc:
            self.error = f"decoding stopped after {self.decoded} frames: {exc}"

    def end_time(self, fallback_duration_s: float = 0.0) -> float:
        """When the last frame stops being shown."""
        return self.last_time + (self.frame_duration_s or fallback_duration_s)


@contextmanager
def clip_frames(path: Path, frame_duration_s: float | None = None) -> Iterator[tuple[ClipFrames | None, str, str]]:
    """(frames, "", "") for a clip with a video stream, else (None, status, reason) as open_video says; the
    container is closed on leaving."""
    container, status, reason = open_video(path)
    if container is None:
        yield None, status, reason
        return
    with container:
        yield ClipFrames(container, frame_duration_s), "", ""


class SampleAndHold:
    """Target times, each taking the frame shown at that instant: the last frame starting at or before it. A
    target is decided when a frame starting after it arrives (the one before is then known to be the one shown),
    or at the end while the last frame is still on screen."""

    def __init__(self, targets: list[float] = ()):
        self.pending: list[float] = sorted(targets)
        self.previous: tuple[float, object] | None = None  # the last frame pushed, with its time

    def want(self, time: float) -> None:
        bisect.insort(self.pending, time)

    def forget(self, time: float) -> None:
        if time in self.pending:
            self.pending.remove(time)

    def push(self, time: float, frame) -> Iterator[tuple[float, object]]:
        """The targets this frame decides, each with the frame it takes (iterate to the end: a target wanted
        meanwhile that is already due is decided too); then this frame is the one shown."""
        while self.pending and time > self.pending[0] + EPSILON_S:
            yield self.pending.pop(0), (self.previous[1] if self.previous else frame)
        self.previous = (time, frame)

    def finish(self, end_time: float) -> list[tuple[float, object]]:
        """The targets before `end_time` take the last frame; later ones are dropped (the clip ended first)."""
        decided = [(when, self.previous[1]) for when in self.pending if self.previous and when < end_time - EPSILON_S]
        self.pending = []
        return decided
