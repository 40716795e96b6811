"""A clip's training window: decode, resample by time to the target fps (lib.video.stream's sample-and-hold),
scale to cover and center-crop (lib.video.crop), and take exactly F frames. Never raises for a bad clip: the
result carries a status and reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prep_platform.lib.video.crop import FrameConverter
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.video.probe import OK, TOO_SHORT, TRUNCATED, UNREADABLE
from prep_platform.lib.video.stream import ClipFrames, SampleAndHold, StreamFacts, clip_frames


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
