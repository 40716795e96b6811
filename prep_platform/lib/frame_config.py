"""A frame configuration: the fps, size and frame count of the windows a run takes, and the names that follow from
it (the images' folder tag, the fingerprint caches are checked against). Light on purpose: the layout, the settings
and the exports import it without the video stack (PyAV, OpenCV)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass

# Bump when the way frames are selected or resized changes: it invalidates every cache built before.
FRAME_PIPELINE_VERSION = "1"



@functools.lru_cache(maxsize=32)
def _config_fingerprint(config: "FrameConfig") -> str:
    payload = json.dumps({**asdict(config), "pipeline": FRAME_PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


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
        return _config_fingerprint(self)  # asked for once per clip by a planning pass: computed once per config

    @property
    def tag(self) -> str:
        """A folder name per configuration, readable first (`720x480_49f_8fps_`) and unique by its fingerprint."""
        return frame_tag(self.width, self.height, self.frames, self.fps, self.fingerprint())


def min_window_duration(frames: int, fps: float) -> float:
    """Seconds of source video a window of `frames` frames at `fps` spans (frames sampled at k / fps)."""
    if frames < 1 or fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"need frames >= 1 and a positive fps, got frames={frames}, fps={fps}")
    return (frames - 1) / fps


def frame_tag(width: int, height: int, frames: int, fps: float, fingerprint: str) -> str:
    """The folder name of a frame configuration's images; a latent header's facts give the same name back."""
    return f"{width}x{height}_{frames}f_{fps:g}fps_{fingerprint[:8]}"


def parse_size(text: str) -> tuple[int, int]:
    """'720x480' -> (720, 480): width x height."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise ValueError(f"size must look like 720x480 (width x height), got {text!r}") from exc
    return width, height
