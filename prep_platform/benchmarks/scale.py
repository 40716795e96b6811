"""Scale note: measured per-clip CPU costs here, and the projected wall time of the Panda-70M 2M subset on N GPU
workers from them and from a GPU encode rate (the reference H200 figure unless you pass a measured one).

    python -m prep_platform.benchmarks.scale [--gpu-clips-per-s 1.36] [--clips 2400000] [--samples 6]

Decode + resample + cover-crop to 49x480x720 is measured on a 360p clip of Panda-70M's typical length (8.5 s),
the frame stage (conditioning PNG) on the same; both in one worker process, medians.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from prep_platform.lib.layout import DataLayout
from prep_platform.lib.frames.stage import frame_stage_clip, place_outputs
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.frames.read import read_window
from prep_platform.samples.synthetic_clips import write_clip

REFERENCE_H200_CLIPS_PER_S = {"plain bf16, batch 4": 1.36, "torch.compile, batch 4": 1.97, "low memory (tiled, compiled)": 1.36}


def measure(samples: int) -> tuple[float, float]:
    config = FrameConfig()
    decode, frames = [], []
    with tempfile.TemporaryDirectory() as tmp:
        layout = DataLayout(Path(tmp), config)
        for i in range(samples):
            clip = Path(tmp) / f"panda{i}.mp4"
            write_clip(clip, width=640, height=360, fps=30, seconds=8.5, textured=True, crf=23, seed=i)
            started = time.process_time()
            read_window(clip, config, want_frames=True, count_all=False)
            decode.append(time.process_time() - started)
            record = place_outputs({"video_id": f"panda{i}", "scenario": "bench", "video_path": str(clip)}, layout)
            frames.append(frame_stage_clip(record, layout, ShotSettings())[0]["cpu_s"])
    return statistics.median(decode), statistics.median(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-clips-per-s", type=float, default=None, help="a measured encode rate per GPU")
    parser.add_argument("--clips", type=int, default=2_400_000, help="clips to encode (Panda-70M 2M: ~2.4M)")
    parser.add_argument("--samples", type=int, default=6)
    args = parser.parse_args()
    decode_s, frame_s = measure(args.samples)
    print(f"measured here, per 8.5 s 360p clip -> 49x480x720, one core: latent-stage decode+resize {decode_s:.3f} CPU-s, "
          f"frame stage (PNG, fingerprint) {frame_s:.3f} CPU-s")
    rates = {"measured": args.gpu_clips_per_s} if args.gpu_clips_per_s else REFERENCE_H200_CLIPS_PER_S
    print(f"\nprojected wall time for {args.clips:,} clips (latent stage; the frame stage runs beforehand on CPU workers):")
    print("| GPU rate | clips/s per GPU | decode cores per GPU | 1 GPU | 8 GPUs | 32 GPUs | 128 GPUs |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, rate in rates.items():
        cores = rate * decode_s
        hours = [args.clips / (rate * n) / 3600 for n in (1, 8, 32, 128)]
        print(f"| {name} | {rate:.2f} | {cores:.2f} | " + " | ".join(f"{h:,.1f} h" for h in hours) + " |")
    frame_hours = args.clips * frame_s / 3600
    print(f"\nframe stage: {frame_hours:,.0f} CPU-hours in all: {frame_hours / 64:,.1f} h on 64 cores "
          "(it scales with cores: 1.94x from 1 to 2 workers here, see benchmarks.frame_stage)")


if __name__ == "__main__":
    main()
