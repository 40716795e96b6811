"""Synthetic H.264 clips for tests and benchmarks: timestamp-coded frames, odd sizes, VFR, audio, textures."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def index_level(i: int) -> int:
    """The flat grey level of source frame i: distinct for any 100 consecutive frames, far apart enough for H.264,
    and never more than 4 levels from the previous frame's (a triangle wave: up in steps of 4 through 20..216,
    down through 218..22), so a shot detector sees one smooth shot, not a cut where a sawtooth would jump."""
    phase = i % 100
    return 20 + phase * 4 if phase < 50 else 218 - (phase - 50) * 4


def write_clip(
    path: Path | str,
    *,
    width: int = 320,
    height: int = 240,
    fps: Fraction | float = Fraction(30),
    seconds: float = 8.0,
    frame_times: list[float] | None = None,
    audio: bool = False,
    textured: bool = False,
    crf: int = 18,
    seed: int = 0,
) -> list[float]:
    """Write an H.264 MP4 and return each frame's presentation time in seconds.

    Frames are flat grey at `index_level(i)` (so a test can tell which source frame was picked), or, with
    `textured`, panning noise that costs a decoder about what natural video does. Either is one smooth shot. `frame_times` makes a
    variable-frame-rate clip.
    """
    fps = Fraction(fps).limit_denominator(1001)
    if frame_times is not None:
        times = [round(t * 1000) / 1000 for t in frame_times]  # what the millisecond timestamps will hold
    else:
        times = [i / float(fps) for i in range(int(round(seconds * float(fps))))]
    rng = np.random.default_rng(seed)
    texture = None
    if textured:
        # Periodic in both directions (smoothed with wrap-around, tiled 2x2), so the pan below never jumps: a jump
        # would be a cut to a shot detector.
        noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        tile = ((noise.astype(np.uint16) + np.roll(noise, 1, 0) + np.roll(noise, 1, 1)) // 3).astype(np.uint8)
        texture = np.tile(tile, (2, 2, 1))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps if frame_times is None else None)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast" if textured else "ultrafast"}
        if frame_times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        audio_stream = container.add_stream("aac", rate=16000) if audio else None
        for i, t in enumerate(times):
            if texture is not None:
                x, y = int(i * 3) % width, int(i * 2) % height
                pixels = np.ascontiguousarray(texture[y : y + height, x : x + width])
            else:
                pixels = np.full((height, width, 3), index_level(i), np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if frame_times is not None:
                frame.pts = int(round(t * 1000))
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            _mux_silence(container, audio_stream, times[-1] if times else 1.0)
    return times


def _mux_silence(container, stream, seconds: float) -> None:
    for start in range(0, int(16000 * seconds), 1024):
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate = 16000
        chunk.pts = start
        for packet in stream.encode(chunk):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


# Scene tints far apart in hue, so adjacent shots differ and a frame's shot can be told from its mean colour.
SCENE_TINTS = ((200, 40, 40), (40, 190, 60), (50, 70, 210), (210, 200, 40), (180, 50, 200), (40, 190, 200))


def write_shots_clip(
    path: Path | str,
    shot_seconds: list[float],
    *,
    width: int = 320,
    height: int = 240,
    fps: Fraction | float = Fraction(30),
    fade_s: float = 0.0,
    crf: int = 20,
    seed: int = 0,
) -> list[int]:
    """An H.264 clip of shots joined end to end: shot k is panning noise under tint SCENE_TINTS[k % 6], with its
    own texture and direction (real motion inside a shot, a hard cut between shots). With `fade_s`, each join is a
    fade through black instead (the outgoing shot fades out over fade_s / 2, the next fades in). Returns each
    frame's shot index (frame i is shown at i / fps)."""
    fps = Fraction(fps).limit_denominator(1001)
    rng = np.random.default_rng(seed)
    bounds = np.cumsum([0.0, *shot_seconds])
    n_frames = int(round(bounds[-1] * float(fps)))
    first_frames = [int(round(b * float(fps))) for b in bounds]
    textures = []
    for _ in shot_seconds:
        noise = rng.integers(0, 256, (height * 2, width * 2), dtype=np.uint8).astype(np.float32)
        textures.append(cv2.blur(noise, (5, 5)))
    labels = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for i in range(n_frames):
            t = i / float(fps)
            # Shots begin at whole frames (rounded once here, so 0.8 + 0.8 + 0.8 s is frame 72, not 73).
            k = min(int(np.searchsorted(first_frames, i, side="right")) - 1, len(shot_seconds) - 1)
            step = i - first_frames[k]
            dx, dy = (3, 2) if k % 2 == 0 else (-2, 3)
            x, y = (step * dx) % width, (step * dy) % height
            luma = textures[k][y : y + height, x : x + width][..., None] / 255.0
            pixels = 0.45 * np.array(SCENE_TINTS[k % len(SCENE_TINTS)], np.float32) + 0.55 * 255.0 * luma * 0.8
            if fade_s:
                into = t - bounds[k]
                left = bounds[k + 1] - t
                gain = 1.0
                if k > 0 and into < fade_s / 2:
                    gain = into / (fade_s / 2)
                if k < len(shot_seconds) - 1 and left < fade_s / 2:
                    gain = min(gain, left / (fade_s / 2))
                pixels = pixels * gain
            frame = av.VideoFrame.from_ndarray(np.clip(pixels, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            labels.append(k)
        for packet in stream.encode():
            container.mux(packet)
    return labels


def scene_of(rgb: np.ndarray) -> int:
    """Which SCENE_TINTS entry an RGB frame (any size) was made with: the nearest by mean colour direction."""
    mean = rgb.reshape(-1, 3).mean(axis=0)
    tints = np.array(SCENE_TINTS, np.float32)
    mean_dir = mean / max(np.linalg.norm(mean), 1e-6)
    tint_dirs = tints / np.linalg.norm(tints, axis=1, keepdims=True)
    return int(np.argmax(tint_dirs @ mean_dir))


def write_audio_only(path: Path | str, seconds: float = 2.0) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        _mux_silence(container, container.add_stream("aac", rate=16000), seconds)
