"""The frames room, reading: a clip opened and probed, its frames walked by presentation time (one sample-and-hold
rule for every reader), and a training window read from it. Never raises for a bad clip: results carry a status
and reason.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from prep_platform.lib.source_files import NotARegularFile, clip_size, not_a_file_reason, open_clip, split_member
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.functional import FrameConverter
from prep_platform.lib.frame_config import EPSILON_S
from prep_platform.lib.statuses import OK

# --- probe ---------------------------------------------------------------------------------------------------------
# Video probing: open a clip, count its frames by demuxing every packet, decode the first frame.
#
# Probing reads the whole file (cheap: packets are not decoded) so a truncated clip is caught here with a
# reason, not later as a crash in the frame stage.

# Statuses a clip can end in; `ok` is the only one that flows downstream.
MISSING = "missing"
EMPTY = "empty"
UNREADABLE = "unreadable"
NO_VIDEO_STREAM = "no_video_stream"
TRUNCATED = "truncated"
TOO_SHORT = "too_short"
NOT_A_FILE = "not_a_file"  # a device, a FIFO, a folder: never opened (a FIFO would block, /dev/zero never end)


@dataclass
class ProbeResult:
    status: str
    error: str = ""
    fps: float | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _stream_fps(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def open_video(path: Path) -> tuple[av.container.InputContainer | None, str, str]:
    """(container, "", "") for a file with a video stream, else (None, status, reason). Shared by every stage
    that opens clips, so a bad file gets the same status and reason everywhere."""
    if split_member(path) is not None:  # a clip inside a webdataset tar, read in place
        try:
            source = open_clip(path)
        except NotARegularFile as exc:
            return None, NOT_A_FILE, str(exc)
        except OSError as exc:
            return None, MISSING if "no member" in str(exc) else TRUNCATED, str(exc)
        if clip_size(path) == 0:
            return None, EMPTY, f"{path}: tar member is empty (0 bytes)"
    elif not path.exists():
        return None, MISSING, f"{path}: file does not exist"
    elif not_a_file_reason(path):  # before its size: a device or a FIFO says 0 bytes
        return None, NOT_A_FILE, not_a_file_reason(path)
    elif path.stat().st_size == 0:
        return None, EMPTY, f"{path}: file is empty (0 bytes)"
    else:
        source = str(path)
    try:
        container = av.open(source, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        return None, UNREADABLE, f"{path}: cannot open as a video container: {exc}"
    if not container.streams.video:
        container.close()
        return None, NO_VIDEO_STREAM, f"{path}: the container has no video stream"
    return container, "", ""


def probe_video(path: Path | str, *, min_duration_s: float = 0.0) -> ProbeResult:
    """Probe one clip. Never raises for a bad file: the status and reason say what is wrong."""
    path = Path(path)
    container, status, reason = open_video(path)
    if container is None:
        return ProbeResult(status, reason)
    with container:
        stream = container.streams.video[0]
        time_base = stream.time_base  # read while open: PyAV 18 refuses a closed container's stream attributes
        result = ProbeResult(
            OK,
            fps=_stream_fps(stream),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
        )
        declared_frames = stream.frames or 0
        counted = 0
        first_pts = last_end = None
        first_frame_decoded = False
        demux_error = ""
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush packet at the end of the stream
                counted += 1
                if packet.pts is not None:
                    first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
                    end = packet.pts + (packet.duration or 0)
                    last_end = end if last_end is None else max(last_end, end)
                if not first_frame_decoded:
                    first_frame_decoded = bool(packet.decode())
        except (av.error.FFmpegError, OSError) as exc:
            demux_error = str(exc)
        if not first_frame_decoded and not demux_error:
            # A decoder holding frames back (B-frames) releases them on flush.
            try:
                first_frame_decoded = bool(stream.codec_context.decode(None))
            except av.error.FFmpegError as exc:
                demux_error = str(exc)

    result.frame_count = counted
    if first_pts is not None and last_end is not None and time_base:
        result.duration_s = round(float((last_end - first_pts) * time_base), 4)
    elif result.fps:
        result.duration_s = round(counted / result.fps, 4)

    if counted == 0 or not first_frame_decoded:
        reason = demux_error or "no decodable video frame"
        return _fail(result, UNREADABLE, f"{path}: {reason}")
    if demux_error:
        return _fail(result, TRUNCATED, f"{path}: reading stopped after {counted} frames: {demux_error}")
    if declared_frames and counted < declared_frames:
        return _fail(
            result, TRUNCATED, f"{path}: the container declares {declared_frames} frames but only {counted} are present"
        )
    # A window's last frame sits min_duration_s after its first: the clip must run past it (the frame stage's rule).
    if result.duration_s is not None and result.duration_s - 1e-6 <= min_duration_s:
        return _fail(
            result,
            TOO_SHORT,
            f"{path}: duration {result.duration_s:.3f} s; a training window needs more than {min_duration_s:.3f} s",
        )
    return result


def _fail(result: ProbeResult, status: str, error: str) -> ProbeResult:
    result.status = status
    result.error = error
    return result


# --- stream --------------------------------------------------------------------------------------------------------
# One way to open a clip and walk its frames (`clip_frames`), and one rule for which frame a time takes
# (`SampleAndHold`), shared by the window reader and the shot scan.
#
# Resampling is by presentation time, not by index stride: a target time takes the last source frame shown at that
# instant, so 15, 25, 29.97 fps and variable-frame-rate clips all give the same motion speed.

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


# --- window --------------------------------------------------------------------------------------------------------
# A clip's training window: decode, resample by time to the target fps (the sample-and-hold above),
# scale to cover and center-crop (lib.functional), and take exactly F frames. Never raises for a bad clip: the
# result carries a status and reason.

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

    @classmethod
    def of_stream(cls, facts: StreamFacts) -> WindowResult:
        return cls(OK, source_fps=facts.source_fps, declared_frames=facts.declared_frames,
                   source_width=facts.source_width, source_height=facts.source_height)

    def record(self) -> dict:
        """What is kept about the clip (no pixels)."""
        return {k: v for k, v in asdict(self).items() if k not in ("frames", "first_frame")}


def read_window(
    path: Path | str, config: FrameConfig, *, want_frames: bool = False, count_all: bool = True,
    start_s: float | None = None,
) -> WindowResult:
    """Decode `path` and select the window. With `want_frames`, the F frames come back resized and cropped;
    the first frame of the window always does (it is the conditioning image). With `count_all`, decoding
    continues past the window so `decoded_frames` is the clip's real frame count. `start_s` (seconds after the
    first frame) replaces the configuration's window start: the window the frame stage chose inside a shot."""
    path = Path(path)
    with clip_frames(path) as (frames, status, reason):
        if frames is None:
            return WindowResult(status, reason)
        start = config.window_start_s if start_s is None else start_s
        return _select(frames, path, config, want_frames, count_all, start)


def _select(frames: ClipFrames, path: Path, config: FrameConfig, want_frames: bool, count_all: bool,
            start_s: float) -> WindowResult:
    result = WindowResult.of_stream(frames.facts)
    n = config.frames
    chosen: list[np.ndarray | None] = [None] * n
    target_index = {start_s + k / config.fps: k for k in range(n)}
    hold = SampleAndHold(list(target_index))
    convert = FrameConverter(config)

    def assign(frame, index: int) -> None:
        # Only frames that land in the window are converted (the converter converts a held frame once).
        chosen[index] = convert(frame) if index == 0 or want_frames else _PLACEHOLDER

    for time, frame in frames:
        for when, held in hold.push(time, frame):
            assign(held, target_index[when])
        if not hold.pending and not count_all:
            break
    result.decoded_frames = frames.decoded
    if frames.decoded == 0:
        result.status = UNREADABLE
        result.reason = f"{path}: no decodable video frame" + (f" ({frames.error})" if frames.error else "")
        return result
    # The last frame is shown until its end: it covers the targets up to there.
    end_time = frames.end_time()
    for when, held in hold.finish(end_time):
        assign(held, target_index[when])
    have = sum(1 for pixels in chosen if pixels is not None)  # targets are decided in time order

    detail = decode_problem(frames.error, result.declared_frames if count_all else None, frames.decoded)
    if detail:
        if have < n:
            result.status, result.reason = TRUNCATED, truncated_reason(path, detail, config, start_s)
            return result
        result.warning = detail  # the window is complete: usable, but recorded

    missing = n - have
    if missing:
        available = max(0.0, end_time - start_s)
        if not config.pad_short or have == 0:
            result.status, result.reason = TOO_SHORT, too_short_reason(path, available, start_s, config, have)
            return result
        for index in range(have, n):
            chosen[index] = chosen[have - 1]
        result.padded_frames = missing

    # Recorded exactly (JSON keeps a float's every digit): the latent stage reads the same window from it.
    result.window_start_s = start_s
    result.window_end_s = start_s + config.span_s
    result.crop_box = convert.recorded_box()
    result.first_frame = chosen[0]
    if want_frames:
        result.frames = np.stack(chosen)
    return result


_PLACEHOLDER = np.zeros((0,), np.uint8)


def decode_problem(error: str, declared: int | None, decoded: int) -> str:
    """Why the decode is incomplete ("" when it is not): an error, or fewer frames than the container declares."""
    if error:
        return error
    if declared and decoded < declared:
        return f"the container declares {declared} frames but only {decoded} decode"
    return ""


def truncated_reason(path: Path, detail: str, config: FrameConfig, start_s: float) -> str:
    return f"{path}: {detail}; the {config.frames}-frame window needs {config.span_s:.3f} s from {start_s:.3f} s"


def too_short_reason(path: Path, available: float, start_s: float, config: FrameConfig, have: int) -> str:
    # The rule the selection applies: the last frame sits at start + span, so the video must run past it (the same
    # figure the probe states when it turns a clip away).
    return (f"{path}: {available:.3f} s of video from {start_s:.3f} s, the {config.frames}-frame window at "
            f"{config.fps:g} fps needs more than {config.span_s:.3f} s ({have} of {config.frames} frames)")
