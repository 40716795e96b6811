"""The shot settings: which detector finds cuts, its thresholds, and how windows are chosen inside shots. Light on
purpose (no OpenCV, no numpy): the settings and the layout import it; video.shots does the detecting."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass


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
