"""Frame stage and, with --encode-latents, the latent stage and the training index, for the clips of a scenario
metadata file: what the assets clip_frames, clip_latents and training_index do, one shard of work (a Dagster
partition, `<scenario>.<nnnn>`) after another: every shard of every scenario unless --scenario / --shard say.

    python -m prep_platform.data_prep.preprocess_video_latents --metadata data/metadata/scenario_metadata.parquet \\
        --output-dir data/prepared/latents --fps 8 --size 720x480 --augment --encode-latents
"""

from __future__ import annotations

import json
import sys

from prep_platform.data_prep._cli import EXIT_ENVIRONMENT, EXIT_OK, ProgressBars, SettingsParser, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.models.hub_models import refuse_if_unobtainable
from prep_platform.lib.models.model_settings import VAE_PRESETS
from prep_platform.lib.shards import shard_key
from prep_platform.lib.statuses import environment_failures, is_success
from prep_platform.lib.frame_config import DETECTORS, UNCLEAN_WINDOW_CHOICES, WINDOW_POLICIES


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="preprocess_video_latents",
        description="Resample each clip by time, cover-crop to the target size, find its shots and take up to "
        "--windows-per-clip F-frame windows inside shots, write each window's conditioning image; with "
        "--encode-latents also encode each window with the CogVideoX VAE into <output-dir>/<scenario>/<sample>.npz "
        "(<sample>: the video id, or <video id>__w<k> for the k-th more window) and write the scenario's "
        "training index of each shard. Current caches are skipped; an interrupted run resumes.",
    )
    parser.profile_option()
    parser.add_argument("--metadata", default=None, help="scenario metadata: the store build_scenario_metadata writes (default: "
                        "<data-root>/metadata/scenario_metadata.parquet), or a JSON {train, validation} document")
    parser.setting("--split", "splits", choices=("train", "validation", "all"))
    parser.add_argument("--scenario", action="append",
                        help="only these scenarios (repeatable; default: every scenario of the scenarios file and any "
                        "other the metadata names)")
    parser.add_argument("--shard", action="append",
                        help="only these shards of work (repeatable): a number (that shard of each chosen scenario) or "
                        "a partition key such as urban.0003 (default: every shard)")
    parser.setting("--scenarios", "scenarios_file")
    parser.add_argument("--output-dir", default=None, help="latent cache root (default: <data-root>/prepared/latents)")
    parser.add_argument("--frames-dir", default=None, help="where frame manifests go (default: <output-dir>/../frames)")
    parser.add_argument("--images-dir", default=None,
                        help="conditioning images root, one folder per scenario and frame configuration "
                        "(default: <output-dir>/../images)")
    parser.setting("--fps", "fps")
    parser.setting("--size", "frame_size")
    parser.setting("--frames", "frames")
    parser.setting("--pad-short", "pad_short")
    parser.setting("--shot-detector", "shot_detector", choices=DETECTORS)
    parser.setting("--shot-threshold", "shot_threshold")
    parser.setting("--shot-adaptive-threshold", "shot_adaptive_threshold")
    parser.setting("--shot-min-content", "shot_min_content")
    parser.setting("--min-shot-s", "min_shot_s")
    parser.setting("--window-policy", "window_policy", choices=WINDOW_POLICIES)
    parser.setting("--windows-per-clip", "windows_per_clip")
    parser.setting("--unclean-window", "unclean_window", choices=UNCLEAN_WINDOW_CHOICES)
    parser.setting("--augment", "augment")
    parser.setting("--workers", "workers")
    parser.setting("--prefetch", "prefetch")
    parser.add_argument("--encode-latents", action="store_true", help="run the latent stage and write the training index too")
    # The VAE's settings (PrepSettings.vae): meanings and defaults from lib.models.model_settings.
    parser.setting("--vae", "vae.model_id")
    parser.setting("--vae-preset", "vae.preset", choices=VAE_PRESETS)
    parser.setting("--device", "vae.device")
    parser.setting("--dtype", "vae.dtype")
    parser.setting("--batch-size", "vae.batch_size")
    parser.setting("--tiling", "vae.tiling")
    parser.setting("--slicing", "vae.slicing")
    parser.setting("--compile", "vae.compile")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(metadata_file=pipeline.metadata_input(args.metadata)).with_latents_root(
        args.output_dir, frames_root=args.frames_dir, images_root=args.images_dir)
    shards = pipeline.chosen_shards(settings, layout, args.scenario, args.shard)
    encoder = None
    if args.encode_latents:
        vae_settings = settings.vae_settings()
        refuse_if_unobtainable(vae_settings.hub_model(settings.model()))  # before the frames and torch: told at once
        from prep_platform.lib.models.vae import VaeEncoder

        encoder = VaeEncoder(vae_settings, settings.model())
    summary: dict[str, dict] = {}
    environment_failed: list[dict] = []
    for scenario, shard in shards:
        key = shard_key(scenario, shard)
        bars = ProgressBars(f"{key}: ")
        try:
            run = pipeline.prepare_scenario(settings, layout, scenario, shard, encoder=encoder, progress_for=bars)
        finally:
            bars.close()
        summary[key] = {"frames": run.frames.counts, "clips_reused": run.frames.clips_reused, "windows": run.frames.summary()}
        if run.latents is not None:
            summary[key]["latents"] = run.latents.counts
            summary[key]["encoder"] = {**run.latents.encoder, "startup_s": run.latents.startup_s}
            summary[key]["training_index"] = (
                {"path": str(layout.training_index(scenario, shard)), **run.index.counts} if run.index else
                {"skipped": run.index_skipped})
        environment_failed += environment_failures(run.clip_rows)
        for row in run.clip_rows:
            if not is_success(row["status"]):
                variant = f" ({row['augmentation']})" if "augmentation" in row else ""
                print(f"  {row.get('sample_id') or row['video_id']}{variant}: {row['status']}: {row['reason']}", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    if environment_failed:
        print(f"preprocess_video_latents: {len(environment_failed)} clip(s) failed for a reason of the machine, not "
              f"of the clip (first: {environment_failed[0]['video_id']}: {environment_failed[0]['reason']}); fix it and "
              f"run the same command again: finished clips are skipped", file=sys.stderr)
        return EXIT_ENVIRONMENT
    return EXIT_OK


if __name__ == "__main__":
    run_cli(main, "preprocess_video_latents")
