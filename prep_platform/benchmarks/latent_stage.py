"""Benchmark: the latent stage end to end vs the VAE alone, same device, batch size and dtype, in one run.

    python -m prep_platform.benchmarks.latent_stage [--clips 6] [--repeats 2] [--size 360x240] [--frames 49]
        [--preset tiny|random_full] [--device auto] [--dtype auto] [--batch-size 1] [--tiling] [--slicing]

VAE-only: the encoder on windows already decoded into memory. End to end: `run_latent_stage` from the clip
files (decode, resample, crop in worker processes that prefetch while the VAE runs; files written by a
thread). Runs are interleaved; medians. Target: end to end >= 0.9x the VAE-only throughput. Also prints the
peak host memory, and on CUDA the peak GPU memory.

On a GPU machine: `--preset random_full --size 720x480 --frames 49` runs the full-size architecture with
random weights (the real cost); add `--tiling --slicing` for the low-memory preset.
"""

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from prep_platform.lib.files.fingerprints import file_fingerprint
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.video.window import FrameConfig, parse_size, read_window
from prep_platform.lib.stages.latents import LatentItem, run_latent_stage
from prep_platform.lib.samples.synthetic_clips import write_clip
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", default="360x240")
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--tiling", action="store_true")
    parser.add_argument("--slicing", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--prefetch", type=int, default=4)
    args = parser.parse_args()
    width, height = parse_size(args.size)
    config = FrameConfig(width=width, height=height, frames=args.frames)
    encoder = VaeEncoder(VaeSettings(preset=args.preset, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                                     tiling=args.tiling, slicing=args.slicing, compile=args.compile))
    batch = encoder.settings.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for i in range(args.clips):
            path = Path(tmp) / f"clip{i}.mp4"
            write_clip(path, width=320, height=240, fps=30, seconds=8.0, textured=True, crf=23, seed=i)
            clips.append(path)
        windows = np.stack([read_window(p, config, want_frames=True, count_all=False).frames for p in clips])
        encoder.encode(windows[:batch])  # warm-up (and compilation, if asked)
        _sync(encoder.device)
        if encoder.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        vae_rates, e2e_rates = [], []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            for start in range(0, len(windows), batch):
                encoder.encode(windows[start : start + batch])
            _sync(encoder.device)
            vae_rates.append(len(windows) / (time.perf_counter() - started))

            out = Path(tmp) / f"latents{repeat}"
            items = [LatentItem(p.stem, str(p), out / "bench" / f"{p.stem}.npz", file_fingerprint(p)) for p in clips]
            started = time.perf_counter()
            result = run_latent_stage(items, DataLayout(out, config).relocated(latents_root=out), encoder, workers=args.workers,
                                      prefetch=args.prefetch)
            _sync(encoder.device)
            e2e_rates.append(len(clips) / (time.perf_counter() - started))
            assert result.counts == {"encoded": len(clips)}, result.counts
    vae, e2e = statistics.median(vae_rates), statistics.median(e2e_rates)
    peak_host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"latent stage: {args.clips} clips, {args.frames}x{height}x{width}, VAE {encoder.model_id} "
          f"on {encoder.device} ({str(encoder.dtype).removeprefix('torch.')}), batch {batch}, tiling {encoder.settings.tiling}, "
          f"slicing {encoder.settings.slicing}; medians of {args.repeats}")
    print(f"  VAE only:   {vae:.3f} clips/s  ({vae * args.frames:.1f} frames/s)  runs {[round(r, 3) for r in vae_rates]}")
    print(f"  end to end: {e2e:.3f} clips/s  runs {[round(r, 3) for r in e2e_rates]}")
    print(f"  ratio end-to-end / VAE-only: {e2e / vae:.3f}  (target >= 0.9) -> {'PASS' if e2e / vae >= 0.9 else 'FAIL'}")
    print(f"  peak host memory (main process): {peak_host:.0f} MiB")
    if encoder.device.type == "cuda":
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
