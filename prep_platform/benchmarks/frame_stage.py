"""Benchmark: the frame stage on MSR-VTT-like clips (15 s, 320x240, 30 fps, H.264 with natural-video bitrate).

    python -m prep_platform.benchmarks.frame_stage [--clips 16] [--repeats 3] [--size 720x480] [--frames 49]

Reports CPU-seconds per clip (decode, resample by time, cover-crop, the conditioning PNG, the source
fingerprint) and the throughput with 1 and 2 worker processes, measured side by side (runs interleaved),
as medians. Targets: <= 0.5 CPU-s per clip; 2 workers within 10% of twice 1 worker.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from prep_platform.lib.frame_config import FrameConfig, parse_size
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.frames.stage import run_frame_stage
from prep_platform.samples.synthetic_clips import write_clip


def make_clips(folder: Path, count: int) -> list[dict]:
    records = []
    for i in range(count):
        path = folder / f"clip{i}.mp4"
        write_clip(path, width=320, height=240, fps=30, seconds=15.0, textured=True, crf=23, seed=i)
        records.append({"video_id": path.stem, "scenario": "bench", "video_path": str(path)})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="720x480")
    parser.add_argument("--frames", type=int, default=49)
    args = parser.parse_args()
    width, height = parse_size(args.size)
    config = FrameConfig(width=width, height=height, frames=args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        records = make_clips(Path(tmp), args.clips)
        mb = sum(os.path.getsize(r["video_path"]) for r in records) / len(records) / 1e6
        cpu_per_clip, rate = [], {1: [], 2: []}
        layout = DataLayout(Path(tmp), config)
        run_frame_stage(records[:2], layout, workers=1)  # warm-up: forkserver start, imports
        for _ in range(args.repeats):
            for workers in (1, 2):
                started = time.perf_counter()
                result = run_frame_stage(records, layout, workers=workers)
                wall = time.perf_counter() - started
                assert result.counts == {"ok": len(records)}, result.counts
                rate[workers].append(len(records) / wall)
                if workers == 1:  # CPU time measured inside the worker, per clip
                    cpu_per_clip.append(statistics.mean(clip["cpu_s"] for clip in result.clips))
    cpu = statistics.median(cpu_per_clip)
    one, two = statistics.median(rate[1]), statistics.median(rate[2])
    print(f"frame stage: {args.clips} clips of 15 s 320x240 30 fps H.264 ({mb:.2f} MB each) -> "
          f"{args.frames} frames at 8 fps, {width}x{height}; {os.cpu_count()} CPUs; medians of {args.repeats}")
    print(f"  CPU-seconds per clip (1 worker): {cpu:.3f}  (target <= 0.5; the replaced tool ~10.8)  "
          f"-> {'PASS' if cpu <= 0.5 else 'FAIL'}")
    print(f"  throughput: 1 worker {one:.2f} clips/s, 2 workers {two:.2f} clips/s, scaling {two / one:.2f}x "
          f"({two / one / 2:.0%} of linear; target >= 90%) -> {'PASS' if two / one >= 1.8 else 'FAIL'}")
    print(f"  runs (clips/s): 1 worker {[round(r, 2) for r in rate[1]]}, 2 workers {[round(r, 2) for r in rate[2]]}")


if __name__ == "__main__":
    main()
