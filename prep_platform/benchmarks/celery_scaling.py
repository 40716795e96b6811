"""Benchmark: latent-stage throughput through Celery with 1 and 2 `gpu` workers (the tiny VAE on CPU, one thread
per worker, so one worker stands for one GPU), measured side by side in one run.

    python -m prep_platform.benchmarks.celery_scaling [--runs 2] [--shard-size 4] [--repeats 1]

Needs PostgreSQL and redis-server binaries (prep_platform.deploy.local_cluster). Starts a real cluster (PostgreSQL
instance storage, Redis broker, one `cpu` worker), prepares the embedded sample (sources, Panda-70M ingest,
metadata, frames) at 49 frames of 240x160, then for N = 1, 2 `gpu` workers (the gpu pool's limit set to N, one slot
per GPU): removes every latent cache and launches the latents of every shard as `--runs` runs at once, as a
multi-run backfill does; the throughput is the clips encoded over the wall time from launch to the last run's end.
Target: 2 workers at least 1.8x the clips/s of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prep_platform.defs.partitions import shard_run_ranges
from prep_platform.deploy.local_cluster.cluster import REPO, running_cluster
from prep_platform.deploy.local_cluster.services import missing_services

BACKFILL_STEP = "prep_platform.deploy.local_cluster.backfill_step"  # run with -m: one step of the backfill, one JSON line
SETTINGS = {"PREP_PLATFORM_FRAME_SIZE": "240x160", "PREP_PLATFORM_FRAMES": "49", "PREP_PLATFORM_WORKERS": "0",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one core per worker: one worker is one "GPU"


def step(env: dict, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", BACKFILL_STEP, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if not report["success"]:
        raise SystemExit(f"{' '.join(args)}: a run failed: {done.stderr[-3000:]}")
    return report


def encode_everything(env: dict, data: Path, ranges: list[tuple[str, str]]) -> tuple[float, int, list[dict]]:
    for folder in (data / "prepared" / "latents").glob("*"):
        shutil.rmtree(folder)  # every cache again
    started = time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", BACKFILL_STEP, first, last, "--assets=clip_latents"], cwd=REPO,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for first, last in ranges]
    reports = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=1800)
        if run.returncode != 0:
            raise SystemExit(f"a latents run failed: {stderr[-3000:]}")
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    return wall, sum(r["clip_latents"].get("encoded", 0) for r in reports), reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs the backfill is split into (launched at once)")
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if missing_services():
        raise SystemExit(f"celery_scaling: {missing_services()}")
    settings = {**SETTINGS, "PREP_PLATFORM_SHARD_SIZE": str(args.shard_size)}
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp, running_cluster(Path(tmp), settings, [("cpu", "cpu,dagster"), ("gpuA", "gpu")]) as cluster:
        env = {**os.environ, **cluster["base"]}
        shards = step(env, "prep")["shards"]
        step(env, shards[0], shards[-1], "--assets=clip_frames")  # the frames of every shard, once
        per_run = -(-len(shards) // args.runs)
        ranges = shard_run_ranges(shards, per_run)
        for _ in range(args.repeats):
            for workers in (1, 2):
                subprocess.run([str(Path(sys.executable).parent / "dagster"), "instance", "concurrency", "set", "gpu",
                                str(workers)], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
                extra = cluster["start_worker"]("gpuB", "gpu") if workers == 2 else None
                time.sleep(3 if extra else 0)
                wall, encoded, reports = encode_everything(env, cluster["data"], ranges)
                rates[workers].append(encoded / wall)
                used = sorted({r["workers"]["clip_latents"].split("@")[0] for r in reports})
                print(f"  {workers} gpu worker(s): {encoded} clips in {wall:.1f} s = {encoded / wall:.2f} clips/s "
                      f"(clip_latents steps ran on {', '.join(used)})", flush=True)
                if extra is not None:
                    extra.terminate()
                    extra.wait(timeout=60)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"latent stage through Celery, {len(shards)} shards of <= {args.shard_size} clips as {len(ranges)} runs, "
          f"49x160x240, tiny VAE on CPU, one thread per worker ({os.cpu_count()} CPUs); medians of {args.repeats}")
    print(f"  1 gpu worker {one:.2f} clips/s, 2 gpu workers {two:.2f} clips/s: {two / one:.2f}x  "
          f"(target >= 1.8x) -> {'PASS' if two / one >= 1.8 else 'FAIL'}")


if __name__ == "__main__":
    main()
