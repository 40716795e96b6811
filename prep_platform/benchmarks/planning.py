"""Benchmark: planning a large scenario shard where everything is current (the frame and latent stages of a re-run
with nothing changed): no video is read, no model is loaded, and it takes seconds.

    python -m prep_platform.benchmarks.planning [--clips 100000]

Sets up `--clips` clip files (a few bytes each: planning must never decode them; any decode fails the run), the
frame stage's rows for them as a finished run leaves them (source size, mtime and sha256, conditioning image on
disk) and a current latent cache per clip (a small .npz whose header holds the fingerprints the latent stage
checks) with the last latent manifest's rows for them. Then times the two planning passes as the pipeline runs
them: the frame stage with the last manifest's rows, the latent stage with the last manifest's rows and an encoder
that is never loaded.
"""

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from prep_platform.lib.source_files import source_identity
from prep_platform.lib.files.latent_file import LATENT_FORMAT_VERSION, LatentHeader, write_latent_file
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
from prep_platform.lib.frames import stage as frame_stage
from prep_platform.lib.stages import latents as latent_stage
from prep_platform.lib.frames.stage import frame_stage_key, run_frame_stage
from prep_platform.lib.sample import Window
from prep_platform.lib.stages.latents import LatentItem, latent_items, run_latent_stage
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.frame_config import FrameConfig


def _no_video(*args, **kwargs):
    raise AssertionError("planning decoded a clip: it must not read any video")


def set_up(root: Path, clips: int, encoder: VaeEncoder) -> tuple[DataLayout, list[dict], list[dict], list[dict]]:
    layout = DataLayout(root / "data", FrameConfig(width=144, height=96, frames=9))
    sources = root / "sources"
    sources.mkdir()
    key = frame_stage_key(layout.frame_config, ShotSettings())
    frame_fp, vae_fp = layout.frame_config.fingerprint(), encoder.identity_fingerprint()
    records, rows, latent_rows = [], [], []
    window = {"window_index": 0, "window_start_s": 0.0, "window_end_s": 1.0, "shot_index": 0, "clean_window": True}
    for i in range(clips):
        video_id = f"clip{i:07d}"
        path = sources / f"{video_id}.mp4"
        path.write_bytes(i.to_bytes(8, "little") * 8)  # not a video: decoding it would fail
        record = {"video_id": video_id, "scenario": "bench", "split": "train", "video_path": str(path)}
        records.append(record)
        image = layout.image("bench", video_id)
        if i == 0:
            image.parent.mkdir(parents=True)
        image.write_bytes(b"")
        row = {**record, "sample_id": video_id, **window, "status": "ok", "frames_key": key,
               **source_identity(path),
               "image_path": str(image), "latent_path": str(layout.latent("bench", video_id))}
        rows.append(row)
        item = LatentItem(video_id, str(path), layout.latent("bench", video_id), row["source_fingerprint"], "bench",
                          video_id, Window.from_row(window))
        header = {"source_fingerprint": item.source_fingerprint, "config_fingerprint": item.config_fingerprint(frame_fp, vae_fp, "none")}
        if i == 0:
            item.latent_path.parent.mkdir(parents=True)
        write_latent_file(item.latent_path, {"latent_mean": np.zeros(4, np.float16)}, LatentHeader.from_json(header))
        stat = item.latent_path.stat()
        latent_rows.append({"latent_path": str(item.latent_path), "status": "encoded", "cache_bytes": stat.st_size,
                            "cache_mtime_ns": stat.st_mtime_ns, "format_version": LATENT_FORMAT_VERSION, **header})
    return layout, records, rows, latent_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    args = parser.parse_args()
    frame_stage.scan_clip = _no_video  # in-process guards: a decode anywhere fails the benchmark
    latent_stage._decode_for_latents = _no_video
    encoder = VaeEncoder(VaeSettings(preset="tiny"))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        layout, records, previous, previous_latents = set_up(Path(tmp), args.clips, encoder)
        setup_s = time.perf_counter() - started

        wall, cpu = time.perf_counter(), time.process_time()
        frames = run_frame_stage(records, layout, workers=2, previous=previous)
        frames_wall, frames_cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert frames.clips_reused == args.clips, frames.clips_reused

        wall, cpu = time.perf_counter(), time.process_time()
        latents = run_latent_stage(latent_items(frames.samples, layout), layout, encoder, workers=2,
                                   previous=previous_latents)
        latents_wall, latents_cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert latents.counts == {"skipped": args.clips}, latents.counts
        assert not encoder.loaded  # no model: nothing to encode
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"planning a {args.clips:,}-clip shard with every clip current ({os.cpu_count()} CPUs; set-up {setup_s:.0f} s, "
          f"not timed)")
    print(f"  frame stage:  {frames_wall:6.2f} s wall, {frames_cpu:6.2f} CPU-s  ({args.clips:,} clips reused, none decoded)")
    print(f"  latent stage: {latents_wall:6.2f} s wall, {latents_cpu:6.2f} CPU-s  ({args.clips:,} caches current, "
          f"model not loaded, no clip decoded)")
    total = frames_wall + latents_wall
    print(f"  together: {total:.2f} s ({args.clips / total:,.0f} clips/s), peak RSS {peak_mb:,.0f} MB  "
          f"target: seconds, no video read -> {'PASS' if total < 60 else 'FAIL'}")


if __name__ == "__main__":
    main()
