"""Benchmark: what shot detection adds to the frame stage, per 15 s 320x240 30 fps H.264 clip.

    python -m prep_platform.benchmarks.shot_detection [--clips 12] [--repeats 5]

Each clip goes through the frame stage's own per-clip function (decode, frame count, window, conditioning PNG,
source fingerprint) with detection off and on, one after the other (side by side, interleaved per clip), in this
process on one thread as a worker runs it. Half the clips are one textured panning shot, half have hard cuts
(2.5 s, 8 s and 4.5 s shots: the window moves to the second shot). Reported: median CPU-seconds per clip, off
and on, and the median of the per-clip difference. Target: detection adds <= 0.1 CPU-s per clip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import cv2

from prep_platform.lib.layout import DataLayout
from prep_platform.samples.synthetic_clips import write_clip, write_shots_clip
from prep_platform.lib.frames.stage import frame_stage_clip
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.frame_config import FrameConfig

TARGET_ADDED_CPU_S = 0.1


def make_clips(folder: Path, count: int) -> list[dict]:
    records = []
    for i in range(count):
        path = folder / f"clip{i}.mp4"
        if i % 2 == 0:
            write_clip(path, width=320, height=240, fps=30, seconds=15.0, textured=True, crf=23, seed=i)
        else:
            write_shots_clip(path, [2.5, 8.0, 4.5], width=320, height=240, fps=30, crf=23, seed=i)
        records.append({"video_id": path.stem, "scenario": "bench", "video_path": str(path), "cuts": i % 2 == 1})
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", default="720x480", help="the frame stage's output size")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # as in a worker process
    width, height = (int(v) for v in args.size.split("x"))
    settings = {"off": ShotSettings(detector="none"), "on": ShotSettings()}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    added: dict[bool, list[float]] = {False: [], True: []}
    windows_moved = 0
    with tempfile.TemporaryDirectory() as tmp:
        records = make_clips(Path(tmp), args.clips)
        layout = DataLayout(Path(tmp) / "data", FrameConfig(width=width, height=height))
        for record in records:
            record.update(image_path=str(layout.image("bench", record["video_id"])),
                          latent_path=str(layout.latent("bench", record["video_id"])))
        frame_stage_clip(records[0], layout, settings["on"])  # warm-up: imports, codec tables
        for _ in range(args.repeats):
            for record in records:
                rows = {}
                for mode in ("off", "on") if len(cpu["off"]) % 2 == 0 else ("on", "off"):  # alternate the order
                    rows[mode] = frame_stage_clip(record, layout, settings[mode])
                    assert rows[mode][0]["status"] == "ok", rows[mode][0]
                    cpu[mode].append(rows[mode][0]["cpu_s"])
                added[record["cuts"]].append(rows["on"][0]["cpu_s"] - rows["off"][0]["cpu_s"])
                windows_moved += rows["on"][0]["window_start_s"] != rows["off"][0]["window_start_s"]
    off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    diff = statistics.median(added[False] + added[True])
    print(f"shot detection: {args.clips} clips of 15 s 320x240 30 fps H.264 (half with 2 hard cuts) -> 49 frames at "
          f"8 fps, {width}x{height}; the frame stage's per-clip function, 1 thread, {args.repeats} repeats; "
          f"{os.cpu_count()} CPUs; medians")
    print(f"  CPU-s per clip: detection off {off:.4f}, on {on:.4f}")
    print(f"  added by detection per clip (median of per-clip differences): {diff:.4f} CPU-s "
          f"(one shot {statistics.median(added[False]):.4f}, with cuts {statistics.median(added[True]):.4f}); "
          f"target <= {TARGET_ADDED_CPU_S} -> {'PASS' if diff <= TARGET_ADDED_CPU_S else 'FAIL'}")
    print(f"  windows moved off a cut: {windows_moved // args.repeats} of {sum(r['cuts'] for r in records)} clips with cuts")


if __name__ == "__main__":
    main()
