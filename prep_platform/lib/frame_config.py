"""A frame configuration: the model profile, fps, size and frame count of the windows a run takes, and the names that
follow from it (the images' folder tag, the fingerprint caches are checked against). The profile decides the
defaults and the rules (lib.profiles). Light on purpose: the layout, the settings and the exports import it without
the video stack (PyAV, OpenCV).
"""

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


# --- shot_settings -------------------------------------------------------------------------------------------------
# The shot settings: which detector finds cuts, its thresholds, and how windows are chosen inside shots. Light on
# purpose (no OpenCV, no numpy): the settings and the layout import it; video.shots does the detecting.

DETECTORS = ("combined", "adaptive", "content", "none")
WINDOW_POLICIES = ("first", "longest")
UNCLEAN_WINDOW_CHOICES = ("drop", "keep")
ADAPTIVE_WINDOW = 2  # frames on each side whose mean the adaptive rule compares with (PySceneDetect's window_width)
COMBINED_SPIKE_RATIO = 1.5  # combined: how far above its neighbours a frame over the content threshold must be
ANALYSIS_WIDTH = 64  # pixels: the width frames are shrunk to before scoring
SHOT_DETECTION_VERSION = "1"  # bump when scores or rules change: it changes the recorded fingerprint
EPSILON_S = 1e-6  # the time tolerance of frame selection (video.window uses the same)
# A bound on windows per clip: each window holds a decoded frame until the clip ends and becomes its own sample;
# 256 windows of 49 frames at 8 fps span 26 minutes, longer than any clip these datasets hold.
MAX_WINDOWS_PER_CLIP = 256


@dataclass(frozen=True)
class ShotSettings:
    detector: str = "combined"
    threshold: float = 27.0  # content rule
    adaptive_threshold: float = 3.0  # adaptive rule: ratio to the neighbours' mean
    min_content: float = 15.0  # adaptive rule: the least content_val a cut has
    min_shot_s: float = 0.5  # no cut within this long after the previous one
    window_policy: str = "first"  # first shot long enough, or the longest shot
    windows_per_clip: int = 1  # up to N non-overlapping windows per clip, each its own sample
    unclean_window: str = "drop"  # no shot long enough: drop the clip (no_clean_window) or keep the best window, marked

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"shot_detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.window_policy not in WINDOW_POLICIES:
            raise ValueError(f"window_policy must be one of {', '.join(WINDOW_POLICIES)}, got {self.window_policy!r}")
        if self.unclean_window not in UNCLEAN_WINDOW_CHOICES:
            raise ValueError(f"unclean_window must be drop or keep, got {self.unclean_window!r}")
        if not 1 <= self.windows_per_clip <= MAX_WINDOWS_PER_CLIP:
            raise ValueError(f"windows_per_clip must be 1..{MAX_WINDOWS_PER_CLIP}, got {self.windows_per_clip}")
        for name in ("threshold", "adaptive_threshold", "min_content", "min_shot_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    @property
    def enabled(self) -> bool:
        return self.detector != "none"

    @property
    def lag_frames(self) -> int:
        """Frames after a candidate the rule needs before it can decide."""
        return ADAPTIVE_WINDOW if self.detector in ("adaptive", "combined") else 0

    def detection_record(self) -> dict:
        """What decides the shots (not the window policy): recorded per clip, in the manifests and latent headers."""
        if not self.enabled:
            return {"detector": "none", "fingerprint": _short_hash({"detector": "none"})}
        rules = {"detector": self.detector, "min_shot_s": self.min_shot_s, "analysis_width": ANALYSIS_WIDTH,
                 "version": SHOT_DETECTION_VERSION}
        if self.detector in ("content", "combined"):
            rules["threshold"] = self.threshold
        if self.detector in ("adaptive", "combined"):
            rules.update(adaptive_threshold=self.adaptive_threshold, min_content=self.min_content,
                         adaptive_window=ADAPTIVE_WINDOW)
        if self.detector == "combined":
            rules["spike_ratio"] = COMBINED_SPIKE_RATIO
        return {**rules, "fingerprint": _short_hash(rules)}

    def fingerprint(self) -> str:
        """Detector and window policy together: what decides which windows a clip gives."""
        return _short_hash(asdict(self) | {"version": SHOT_DETECTION_VERSION})


def _short_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
