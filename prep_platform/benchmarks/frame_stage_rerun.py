"""Benchmark: a frame-stage re-run over unchanged clips against its first run (the incremental frame stage).

    python -m prep_platform.benchmarks.frame_stage_rerun [--clips 1000] [--distinct 20] [--repeats 3]

Writes `--distinct` MSR-VTT-like clips (15 s, 320x240, 30 fps, H.264) and copies them to `--clips` files, runs the
frame stage once (every clip decoded, its conditioning image written, the manifest written), then re-runs it with
nothing changed: the step as the pipeline runs it (read the last manifest, check every clip's source, settings and
image, write the manifest). CPU is the process's own CPU time plus the CPU the worker processes report per clip.
Target: a re-run costs at most 2% of the first run's CPU.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from prep_platform.lib.layout import DataLayout
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.frames.stage import read_frames_manifest, run_frame_stage, write_frames_manifest
from prep_platform.lib.frame_config import FrameConfig


def frame_step(records: list[dict], layout: DataLayout, workers: int) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one frame step as the pipeline runs it."""
    wall, cpu = time.perf_counter(), time.process_time()
    previous = read_frames_manifest(layout.frames_manifest("bench", 0)) or {}
    result = run_frame_stage(records, layout, workers=workers, previous=previous.get("clips"))
    write_frames_manifest(layout.frames_manifest("bench", 0), result, "bench")
    cpu = time.process_time() - cpu + sum({r["video_id"]: r.get("cpu_s", 0.0) for r in result.clips}.values())
    return time.perf_counter() - wall, cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="re-runs measured (the median is reported)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources"
        sources.mkdir()
        for i in range(args.distinct):
            write_clip(sources / f"s{i}.mp4", width=320, height=240, fps=30, seconds=15.0, textured=True, crf=23, seed=i)
        records = []
        for i in range(args.clips):
            path = sources / f"clip{i:06d}.mp4"
            shutil.copyfile(sources / f"s{i % args.distinct}.mp4", path)
            records.append({"video_id": path.stem, "scenario": "bench", "video_path": str(path)})
        layout = DataLayout(Path(tmp) / "root", FrameConfig())
        first_wall, first_cpu, first = frame_step(records, layout, args.workers)
        assert first.counts == {"ok": len(records)}, first.counts
        reruns = []
        for _ in range(args.repeats):
            wall, cpu, again = frame_step(records, layout, args.workers)
            assert again.clips_reused == len(records), again.clips_reused
            reruns.append((wall, cpu))
    wall = statistics.median(w for w, _ in reruns)
    cpu = statistics.median(c for _, c in reruns)
    share = cpu / first_cpu
    print(f"frame stage re-run: {args.clips} unchanged clips (15 s 320x240 30 fps H.264 -> 49 frames at 8 fps, "
          f"720x480), {args.workers} workers; re-run medians of {args.repeats}")
    print(f"  first run:  {first_cpu:8.2f} CPU-s  {first_wall:7.2f} s wall  (every clip decoded)")
    print(f"  re-run:     {cpu:8.2f} CPU-s  {wall:7.2f} s wall  (no clip decoded)")
    print(f"  re-run / first run CPU: {share:.2%}  (target <= 2%) -> {'PASS' if share <= 0.02 else 'FAIL'}")


if __name__ == "__main__":
    main()
