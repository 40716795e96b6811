"""Frame stage (and, with --encode-latents, the latent stage) for the clips of a scenario metadata file.

    python -m prep_platform.data_prep.preprocess_video_latents --metadata data/metadata/scenario_metadata.json \\
        --split train --output-dir data/prepared/latents --fps 8 --size 720x480 --augment --encode-latents
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from prep_platform.data_prep._cli import EXIT_ENVIRONMENT, EXIT_OK, CliParser, clip_progress, run_cli
from prep_platform.lib.frames import FrameConfig, parse_size
from prep_platform.lib.manifest import environment_failures
from prep_platform.lib.metadata import load_metadata_document
from prep_platform.lib.prepare import (
    FRAMES_MANIFEST,
    LATENTS_MANIFEST,
    latent_items_from_frames,
    run_frame_stage,
    run_latent_stage,
    write_frames_manifest,
    write_latents_manifest,
)
from prep_platform.lib.vae import DEFAULT_MODEL_ID, PRESETS, VaeSettings


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="preprocess_video_latents",
        description="Resample each clip by time, cover-crop to the target size, take an F-frame window, write the "
        "conditioning image; with --encode-latents also encode the window with the CogVideoX VAE into "
        "<output-dir>/<scenario>/<video_id>.npz. Current caches are skipped; an interrupted run resumes.",
    )
    parser.add_argument("--metadata", default="data/metadata/scenario_metadata.json", help="scenario metadata JSON")
    parser.add_argument("--split", choices=("train", "validation", "all"), default="train")
    parser.add_argument("--scenario", action="append", help="only these scenarios (repeatable; default: all)")
    parser.add_argument("--output-dir", default="data/prepared/latents", help="latent cache root (default: %(default)s)")
    parser.add_argument("--frames-dir", default=None, help="where frame manifests go (default: <output-dir>/../frames)")
    parser.add_argument("--images-dir", default=None,
                        help="conditioning images root, one folder per scenario and frame configuration "
                        "(default: <output-dir>/../images)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--size", default="720x480", help="width x height (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=49, help="window length, 8N+1 (default: %(default)s)")
    parser.add_argument("--pad-short", action="store_true", help="pad too-short clips with their last frame (recorded)")
    parser.add_argument("--augment", action="store_true", help="also encode a horizontally flipped variant per clip")
    parser.add_argument("--encode-latents", action="store_true", help="run the latent stage too")
    parser.add_argument("--vae", default=DEFAULT_MODEL_ID, help="pretrained repo id or local folder (default: %(default)s)")
    parser.add_argument(
        "--vae-preset", choices=PRESETS, default="default",
        help="default: the pretrained VAE, untiled; low_memory: tiling + slicing + batch 1 (fits a 24 GB card at "
        "49x480x720); tiny: the same class with random weights and a tiny config (CPU demo, tests); random_full: the "
        "full-size config with random weights (GPU benchmarks without a download). Default: %(default)s",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bfloat16, float16, float32")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--tiling", action="store_true", help="VAE tiling (much less GPU memory, a little slower)")
    parser.add_argument("--slicing", action="store_true", help="VAE slicing (encode a batch one clip at a time)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument("--workers", type=int, default=2, help="decode worker processes (0: in-process)")
    parser.add_argument("--prefetch", type=int, default=4, help="decoded clips queued ahead of the encoder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    width, height = parse_size(args.size)
    config = FrameConfig(fps=args.fps, width=width, height=height, frames=args.frames, pad_short=args.pad_short)
    document = load_metadata_document(args.metadata)
    splits = ("train", "validation") if args.split == "all" else (args.split,)
    by_scenario: dict[str, list[dict]] = defaultdict(list)
    for split in splits:
        for record in document[split]:
            if not args.scenario or record["scenario"] in args.scenario:
                by_scenario[record["scenario"]].append(record)
    output_dir = Path(args.output_dir)
    frames_dir = Path(args.frames_dir) if args.frames_dir else output_dir.parent / "frames"
    encoder = None
    if args.encode_latents:
        from prep_platform.lib.vae import VaeEncoder

        encoder = VaeEncoder(VaeSettings(
            preset=args.vae_preset, model_id=args.vae, device=args.device, dtype=args.dtype,
            batch_size=args.batch_size, tiling=args.tiling, slicing=args.slicing, compile=args.compile,
        ))
    summary: dict[str, dict] = {}
    environment_failed: list[dict] = []
    images_dir = Path(args.images_dir) if args.images_dir else output_dir.parent / "images"
    for scenario, records in sorted(by_scenario.items()):
        # Images go under <images-dir>/<scenario>/<frame config>/ and latents under <output-dir>/<scenario>/.
        with clip_progress(f"{scenario}: frames") as progress:
            frames = run_frame_stage(records, config, images_root=images_dir, latents_root=output_dir,
                                     workers=args.workers, progress=progress)
        write_frames_manifest(frames_dir / scenario / FRAMES_MANIFEST, frames, scenario)
        summary[scenario] = {"frames": frames.counts}
        environment_failed += environment_failures(frames.clips)
        for clip in frames.clips:
            if clip["status"] != "ok":
                print(f"  {clip['video_id']}: {clip['status']}: {clip['reason']}", file=sys.stderr)
        if encoder is None:
            continue
        with clip_progress(f"{scenario}: latents") as progress:
            latents = run_latent_stage(
                latent_items_from_frames(frames.clips), config, encoder, latents_root=output_dir,
                augment=args.augment, workers=args.workers, prefetch=args.prefetch, progress=progress,
            )
        write_latents_manifest(output_dir / scenario / LATENTS_MANIFEST, latents, scenario,
                               {"augment": args.augment, **encoder.identity(), "vae_preset": encoder.settings.preset})
        summary[scenario]["latents"] = latents.counts
        environment_failed += environment_failures(latents.clips)
        for row in latents.clips:
            if row["status"] == "failed":
                print(f"  {row['video_id']} ({row['augmentation']}): failed: {row['reason']}", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    if environment_failed:
        print(f"preprocess_video_latents: {len(environment_failed)} clip(s) failed for a reason of the machine, not "
              f"of the clip (first: {environment_failed[0]['video_id']}: {environment_failed[0]['reason']}); fix it and "
              f"run the same command again: finished clips are skipped", file=sys.stderr)
        return EXIT_ENVIRONMENT
    return EXIT_OK


if __name__ == "__main__":
    run_cli(main, "preprocess_video_latents")
