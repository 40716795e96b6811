"""A clip's training window: decode, resample by time to the target fps, scale to cover and center-crop, and
take exactly F frames. Never raises for a bad clip: the result carries a status and reason.

Resampling is by presentation time, not by index stride: target k sits at t0 + k / fps and takes the last
source frame shown at that instant (sample-and-hold), so 15, 25, 29.97 fps and variable-frame-rate clips all
give the same motion speed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from prep_platform.lib.video.probe import OK, TOO_SHORT, TRUNCATED, UNREADABLE, open_video

# Bump when the way frames are selected or resized changes: it invalidates every cache built before.
FRAME_PIPELINE_VERSION = "1"


@dataclass(frozen=True)
class FrameConfig:
    fps: float = 8.0
    width: int = 720
    height: int = 480
    frames: int = 49
    window_start_s: float = 0.0  # seconds after the first frame where the window starts
    pad_short: bool = False  # repeat the last frame of a too-short clip instead of skipping it (recorded)

    def __post_init__(self) -> None:
        if self.frames < 1 or (self.frames - 1) % 8 != 0:
            raise ValueError(f"frames must be 8N+1 (9, 17, 25, 33, 41, 49, ...), got {self.frames}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.width <= 0 or self.height <= 0 or self.width % 8 or self.height % 8:
            raise ValueError(f"size must be positive multiples of 8 (the VAE's spatial factor), got {self.width}x{self.height}")
        if self.window_start_s < 0:
            raise ValueError(f"window_start_s must be >= 0, got {self.window_start_s}")

    @property
    def span_s(self) -> float:
        return (self.frames - 1) / self.fps

    def fingerprint(self) -> str:
        payload = json.dumps({**asdict(self), "pipeline": FRAME_PIPELINE_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def tag(self) -> str:
        """A folder name per configuration, readable first (`720x480_49f_8fps_`) and unique by its fingerprint."""
        return f"{self.width}x{self.height}_{self.frames}f_{self.fps:g}fps_{self.fingerprint()[:8]}"


def parse_size(text: str) -> tuple[int, int]:
    """'720x480' -> (720, 480): width x height."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise ValueError(f"size must look like 720x480 (width x height), got {text!r}") from exc
    return width, height


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
    path: Path | str, config: FrameConfig, *, want_frames: bool = False, count_all: bool = True
) -> WindowResult:
    """Decode `path` and select the window. With `want_frames`, the F frames come back resized and cropped;
    the first frame of the window always does (it is the conditioning image). With `count_all`, decoding
    continues past the window so `decoded_frames` is the clip's real frame count."""
    path = Path(path)
    container, status, reason = open_video(path)
    if container is None:
        return WindowResult(status, reason)
    with container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # parallelism comes from worker processes, one clip each
        rate = stream.average_rate or stream.guessed_rate
        result = WindowResult(
            OK,
            source_fps=float(rate) if rate else None,
            declared_frames=stream.frames or None,
            source_width=stream.codec_context.width,
            source_height=stream.codec_context.height,
        )
        return _select(container, stream, path, config, result, want_frames, count_all)


def _select(container, stream, path: Path, config: FrameConfig, result: WindowResult, want_frames: bool, count_all: bool):
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
                t0 = first_time + config.window_start_s
            if prev_frame is not None and time > prev_time:
                last_duration = time - prev_time
            # A target at t takes the last frame shown at t: the previous frame once this one starts after t.
            # (The first frame starts at or before t0, so `prev_frame` is set whenever this loop runs.)
            while next_target < n and time > t0 + next_target / config.fps + 1e-6:
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
    while next_target < n and t0 + next_target / config.fps < end_time - 1e-6:
        assign(prev_frame, next_target)
        next_target += 1

    declared = result.declared_frames
    short_of_declared = bool(count_all and declared and result.decoded_frames < declared)
    if error or short_of_declared:
        detail = error or f"the container declares {declared} frames but only {result.decoded_frames} decode"
        if next_target < n:
            result.status = TRUNCATED
            result.reason = f"{path}: {detail}; the {n}-frame window needs {config.span_s:.3f} s from {config.window_start_s:.3f} s"
            return result
        result.warning = detail  # the window is complete: usable, but recorded

    missing = n - next_target
    if missing:
        available = max(0.0, end_time - t0)
        if not config.pad_short or next_target == 0:
            result.status = TOO_SHORT
            result.reason = (
                f"{path}: {available:.3f} s of video from {config.window_start_s:.3f} s, the {n}-frame window at "
                f"{config.fps:g} fps needs {config.span_s + 1 / config.fps:.3f} s ({next_target} of {n} frames)"
            )
            return result
        for index in range(next_target, n):
            chosen[index] = chosen[next_target - 1]
        result.padded_frames = missing

    result.window_start_s = round(t0 - first_time, 6)
    result.window_end_s = round(t0 - first_time + config.span_s, 6)
    result.crop_box = [round(v, 3) for v in box] if box else None
    result.first_frame = chosen[0]
    if want_frames:
        result.frames = np.stack(chosen)
    return result


_PLACEHOLDER = np.zeros((0,), np.uint8)
