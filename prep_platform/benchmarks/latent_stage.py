"""Benchmark: the latent stage's start-up and steady state against the encoder alone and the plain diffusers call,
same device, in one run.

    python -m prep_platform.benchmarks.latent_stage [--clips 24] [--size 352x240] [--frames 49] [--preset tiny]
        [--configs auto] [--repeats 3] [--cold-warm] [--rss 64,256]

On a GPU (full-size architecture, random weights: the real cost):

    python -m prep_platform.benchmarks.latent_stage --preset random_full --size 720x480 --clips 64 \
        --configs auto,b1,b4,b4c,low_memory --cold-warm --rss 64,256

For each configuration (auto: no flags, what a user gets; b1: batch 1; b4: batch 4; b4c: compiled batch 4;
low_memory: tiling + slicing, batch 1):
- encoder alone: `VaeEncoder.encode` on windows already decoded into memory (video and first-frame latents);
- end to end: `run_latent_stage` from the clip files (decode workers, prefetch, the writer thread), split into
  start-up (from the call to the first written file: pool start, model load and compile, first decode) and
  steady state (clips written after the first, over the time from the first to the last write);
- ratio steady state / encoder alone (target >= 0.95), peak GPU memory, peak host memory.
The baseline, once per run: the plain diffusers call a hand-written script makes (`AutoencoderKLCogVideoX.encode`,
batch 1, bf16 on CUDA, no compile, video latents only) on the same windows; auto end to end / baseline is the
speed-up a user gets without flags (target >= 1.3x on an H100/H200). `--cold-warm` measures start-up in two new
processes sharing one compile cache folder (cold: empty; warm: the first one's): target warm <= 25% of cold.
`--rss` measures the stage's peak host memory in a new process per clip count (bounded by batch + prefetch).
Source clips (8 s, 320x240, 30 fps, textured) are generated once and reused by several items.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from prep_platform.lib.source_files import file_fingerprint
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.stages.latents import LatentItem, run_latent_stage
from prep_platform.lib.frame_config import FrameConfig, parse_size
from prep_platform.lib.frames.read import read_window

CONFIGS = {  # name -> VaeSettings overrides (auto: none: the defaults a user gets)
    "auto": {},
    "b1": {"batch_size": 1, "compile": False},
    "b4": {"batch_size": 4, "compile": False},
    "b4c": {"batch_size": 4, "compile": True},
    "low_memory": {"preset_low_memory": True},
}
SOURCE_CLIPS = 8


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _settings(args, name: str) -> VaeSettings:
    overrides = dict(CONFIGS[name])
    preset = args.preset
    if overrides.pop("preset_low_memory", False):
        overrides.update(tiling=True, slicing=True, batch_size=1)
    return VaeSettings(preset=preset, device=args.device, dtype=args.dtype, **overrides)


def _sources(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(SOURCE_CLIPS):
        path = folder / f"clip{i}.mp4"
        if not path.exists():
            write_clip(path, width=320, height=240, fps=30, seconds=8.0, textured=True, crf=23, seed=i)
        paths.append(path)
    return paths


def _items(sources: list[Path], count: int, out: Path) -> list[LatentItem]:
    prints = {p: file_fingerprint(p) for p in sources}
    return [LatentItem(f"s{i}", str(sources[i % len(sources)]), out / "bench" / f"s{i}.npz", prints[sources[i % len(sources)]])
            for i in range(count)]


def end_to_end(encoder: VaeEncoder, sources: list[Path], count: int, out: Path, config: FrameConfig, workers: int,
               prefetch: int) -> dict:
    """One run of the stage: start-up (to the first written file) and steady state (first to last write)."""
    writes: list[float] = []

    def progress(done, total, counts) -> None:
        if counts.get("encoded", 0) > len(writes):
            writes.append(time.perf_counter())

    items = _items(sources, count, out)
    started = time.perf_counter()
    result = run_latent_stage(items, DataLayout(out, config).relocated(latents_root=out), encoder, workers=workers,
                              prefetch=prefetch, progress=progress)
    _sync(encoder.device)
    total = time.perf_counter() - started
    assert result.counts == {"encoded": count}, result.counts
    steady = (len(writes) - 1) / (writes[-1] - writes[0]) if len(writes) > 1 and writes[-1] > writes[0] else float("nan")
    return {"startup_s": writes[0] - started, "steady": steady, "overall": count / total, "facts": result.encoder}


def encoder_alone(encoder: VaeEncoder, windows: np.ndarray, repeats: int) -> float:
    batch = encoder.batch_size
    encoder.encode(windows[:batch])  # warm-up (and compile)
    rates = []
    for _ in range(repeats):
        _sync(encoder.device)
        started = time.perf_counter()
        for start in range(0, len(windows), batch):
            encoder.encode(windows[start : start + batch])
        _sync(encoder.device)
        rates.append(len(windows) / (time.perf_counter() - started))
    return statistics.median(rates)


def plain_diffusers(args, windows: np.ndarray, repeats: int) -> float:
    """What a hand-written loop does: the diffusers VAE, batch 1, bf16 on CUDA (fp32 on CPU), no compile."""
    plain = VaeEncoder(VaeSettings(preset=args.preset, device=args.device, dtype=args.dtype, batch_size=1, compile=False))
    plain.load()
    vae, device, dtype = plain.vae, plain.device, plain.dtype

    def one(window: np.ndarray) -> None:
        with torch.inference_mode():
            x = torch.from_numpy(window[None]).to(device).permute(0, 4, 1, 2, 3).to(dtype) / 127.5 - 1.0
            vae.encode(x).latent_dist.sample()

    one(windows[0])
    rates = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        for window in windows:
            one(window)
        _sync(device)
        rates.append(len(windows) / (time.perf_counter() - started))
    return statistics.median(rates)


def _peak_gpu_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def child(args) -> None:
    """In a new process: one end-to-end run (the cold/warm start-up and peak RSS measurements)."""
    width, height = parse_size(args.size)
    config = FrameConfig(width=width, height=height, frames=args.frames)
    work = Path(args.child)
    encoder = VaeEncoder(_settings(args, "auto"))
    out = Path(tempfile.mkdtemp(dir=work))
    run = end_to_end(encoder, _sources(work / "sources"), args.clips, out, config, args.workers, args.prefetch)
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"startup_s": run["startup_s"], "steady": run["steady"],
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _spawn(args, work: Path, clips: int, cache: Path) -> dict:
    command = [sys.executable, "-m", "prep_platform.benchmarks.latent_stage", "--child", str(work), "--clips", str(clips),
               "--size", args.size, "--frames", str(args.frames), "--preset", args.preset, "--device", args.device,
               "--dtype", args.dtype, "--workers", str(args.workers), "--prefetch", str(args.prefetch)]
    # The data root's compile cache, as the stage sets it (lib.models.vae): a new process finds the first's kernels.
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"), "TRITON_CACHE_DIR": str(cache / "triton")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="352x240")
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--configs", default="auto", help=f"comma-separated: {', '.join(CONFIGS)}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=4)
    parser.add_argument("--cold-warm", action="store_true", help="start-up with an empty vs a filled compile cache")
    parser.add_argument("--rss", default="", help="clip counts whose peak host memory to measure, e.g. 64,256")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    width, height = parse_size(args.size)
    config = FrameConfig(width=width, height=height, frames=args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = _sources(work / "sources")
        windows = np.stack([read_window(p, config, want_frames=True, count_all=False).frames for p in sources])
        windows = np.concatenate([windows] * max(1, -(-min(args.clips, 16) // len(windows))))[: max(min(args.clips, 16), 4)]
        baseline = plain_diffusers(args, windows, args.repeats)
        print(f"latent stage: {args.clips} clips ({SOURCE_CLIPS} source clips of 8 s 320x240 30 fps), "
              f"{args.frames}x{height}x{width}, preset {args.preset}, {args.workers} decode workers, prefetch {args.prefetch}; "
              f"medians of {args.repeats}")
        print(f"  baseline, plain diffusers encode (batch 1, no compile, video latents only): {baseline:.3f} clips/s")
        for name in args.configs.split(","):
            encoder = VaeEncoder(_settings(args, name))
            if encoder.device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            runs = [end_to_end(encoder, sources, args.clips, work / f"{name}{r}", config, args.workers, args.prefetch)
                    for r in range(args.repeats)]
            alone = encoder_alone(encoder, windows, args.repeats)
            steady = statistics.median(r["steady"] for r in runs)
            overall = statistics.median(r["overall"] for r in runs)
            facts = runs[0]["facts"]
            gpu = _peak_gpu_gib(encoder.device)
            print(f"  [{name}] batch {facts['batch_size']} ({facts['batch_choice']}), compiled {facts['compiled']}, "
                  f"tiling {facts['tiling']}, {facts['device']}")
            print(f"    start-up (to the first written file): first run {runs[0]['startup_s']:.2f} s (model load "
                  f"{facts['model_load_s']} s), later runs {statistics.median(r['startup_s'] for r in runs[1:]) if len(runs) > 1 else float('nan'):.2f} s")
            print(f"    steady state {steady:.3f} clips/s, encoder alone {alone:.3f} clips/s -> {steady / alone:.3f}x "
                  f"(target >= 0.95) {'PASS' if steady / alone >= 0.95 else 'FAIL'}; end to end incl. start-up {overall:.3f} clips/s")
            if name == "auto":
                print(f"    auto end to end / plain diffusers baseline: {overall / baseline:.2f}x (target >= 1.3 on an H100/H200); "
                      f"steady state / baseline {steady / baseline:.2f}x")
            print(f"    peak GPU memory {gpu:.2f} GiB" if gpu is not None else "    peak GPU memory: n/a (CPU)")
            del encoder
        print(f"  peak host memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        if args.cold_warm:
            cache = work / "compile-cache"
            cold = _spawn(args, work, min(args.clips, 8), cache)
            warm = _spawn(args, work, min(args.clips, 8), cache)
            print(f"  start-up, new process, auto settings: cold (empty compile cache) {cold['startup_s']:.2f} s, warm "
                  f"{warm['startup_s']:.2f} s -> {warm['startup_s'] / cold['startup_s']:.0%} of cold (target <= 25% with compile)")
        for count in [int(c) for c in args.rss.split(",") if c]:
            run = _spawn(args, work, count, work / "compile-cache")
            print(f"  peak host memory, {count} clips (new process): {run['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
