"""A frame configuration: the model profile, fps, size and frame count of the windows a run takes, and the names that
follow from it (the images' folder tag, the fingerprint caches are checked against). The profile decides the
defaults and the rules (lib.profiles). Light on purpose: the layout, the settings and the exports import it without
the video stack (PyAV, OpenCV)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass

from prep_platform.lib.profiles import DEFAULT_PROFILE, ModelProfile, profile_named

# Bump when the way frames are selected or resized changes: it invalidates every cache built before.
FRAME_PIPELINE_VERSION = "1"



@functools.lru_cache(maxsize=32)
def _config_fingerprint(config: "FrameConfig") -> str:
    payload = json.dumps({**asdict(config), "pipeline": FRAME_PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FrameConfig:
    """Unset fps, size and frame count take the profile's defaults; a frame count or size the profile's model cannot
    take is refused (ProfileRuleError, one line naming the rule)."""

    fps: float | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    window_start_s: float = 0.0  # seconds after the first frame where the window starts
    pad_short: bool = False  # repeat the last frame of a too-short clip instead of skipping it (recorded)
    profile: str = DEFAULT_PROFILE

    def __post_init__(self) -> None:
        model = profile_named(self.profile)
        default_width, default_height = model.default_size
        for name, default in (("fps", model.fps), ("width", default_width), ("height", default_height),
                              ("frames", model.default_frames)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        object.__setattr__(self, "fps", float(self.fps))
        model.check_frames(self.frames)
        model.check_size(self.width, self.height)
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.window_start_s < 0:
            raise ValueError(f"window_start_s must be >= 0, got {self.window_start_s}")

    @property
    def model(self) -> ModelProfile:
        return profile_named(self.profile)

    @property
    def span_s(self) -> float:
        return (self.frames - 1) / self.fps

    def fingerprint(self) -> str:
        return _config_fingerprint(self)  # asked for once per clip by a planning pass: computed once per config

    @property
    def tag(self) -> str:
        """A folder name per configuration, readable first (`cogvideox_720x480_49f_8fps_`) and unique by its
        fingerprint."""
        return frame_tag(self.width, self.height, self.frames, self.fps, self.fingerprint(), self.profile)


def min_window_duration(frames: int, fps: float) -> float:
    """Seconds of source video a window of `frames` frames at `fps` spans (frames sampled at k / fps)."""
    if frames < 1 or fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"need frames >= 1 and a positive fps, got frames={frames}, fps={fps}")
    return (frames - 1) / fps


def frame_tag(width: int, height: int, frames: int, fps: float, fingerprint: str, profile: str) -> str:
    """The folder name of a frame configuration's images; a latent header's facts give the same name back."""
    return f"{profile}_{width}x{height}_{frames}f_{fps:g}fps_{fingerprint[:8]}"


def parse_size(text: str) -> tuple[int, int]:
    """'720x480' -> (720, 480): width x height."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise ValueError(f"size must look like 720x480 (width x height), got {text!r}") from exc
    return width, height
