"""Synthetic H.264 clips for tests and benchmarks: timestamp-coded frames, odd sizes, VFR, audio, textures."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def index_level(i: int) -> int:
    """The flat grey level of source frame i: distinct for any 50 consecutive frames, far apart enough for H.264."""
    return 20 + (i % 50) * 4


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
    `textured`, panning noise that costs a decoder about what natural video does. `frame_times` makes a
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
        noise = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)
        texture = ((noise.astype(np.uint16) + np.roll(noise, 1, 0) + np.roll(noise, 1, 1)) // 3).astype(np.uint8)
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


def write_audio_only(path: Path | str, seconds: float = 2.0) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        _mux_silence(container, container.add_stream("aac", rate=16000), seconds)
