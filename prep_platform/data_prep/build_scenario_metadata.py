"""Label MSR-VTT clips (and ingested Panda-70M shards) with scenarios and write the train/validation metadata: the
store (Parquet) and its JSON view in the seed's record schema (the asset scenario_metadata).

    python -m prep_platform.data_prep.build_scenario_metadata --msr-vtt data/raw/msr-vtt \
        --output data/metadata/scenario_metadata.json --limit 1500 --validation-ratio 0.1
"""

from __future__ import annotations

import json

from prep_platform.data_prep._cli import ProgressBars, SettingsParser, existing_folder, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.files.metadata_store import store_for_output
from prep_platform.lib.layout import metadata_report_path, metadata_view_path


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="build_scenario_metadata",
        description="Label every ok clip of an MSR-VTT folder (annotation + manifest.csv), and of the Panda-70M "
        "shards ingested beside it, with a scenario from all of its captions and its category, split "
        "train/validation per scenario, and write the metadata store with its JSON view (each record: video_path, "
        "image_path, caption, prompt_variants, scenario, latent_path, ...) plus a report of how it was made and which "
        "clips were kept out and why.",
    )
    parser.profile_option()
    parser.add_argument("--msr-vtt", default=None, type=existing_folder("the folder download_msr_vtt writes"),
                        help="folder written by download_msr_vtt (default: <data-root>/raw/msr-vtt)")
    parser.add_argument("--panda-dir", default=None, type=existing_folder("a Panda-70M folder"),
                        help="Panda-70M folder whose ingested shards are labelled beside MSR-VTT when present "
                        "(default: <data-root>/raw/panda70m)")
    parser.add_argument("--output", default=None,
                        help="the metadata store (default: <data-root>/metadata/scenario_metadata.parquet) or its JSON "
                        "view (scenario_metadata.json): both are written, side by side, and every tool reads the "
                        "same records from either")
    parser.add_argument("--prepared-dir", default=None,
                        help="folder the records' image_path / latent_path point into (default: <data-root>/prepared)")
    parser.setting("--scenarios", "scenarios_file")
    parser.setting("--limit", "metadata_limit")
    parser.setting("--validation-ratio", "validation_ratio")
    parser.setting("--seed", "split_seed")
    parser.setting("--shard-size", "shard_size")
    parser.setting("--size", "frame_size", help="the records' image paths name it")
    parser.setting("--frames", "frames", help="the records' image paths name it")
    parser.setting("--fps", "fps", help="the records' image paths name it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    prepared = args.prepared_dir
    layout = settings.layout().relocated(
        msr_vtt=args.msr_vtt, panda=args.panda_dir, metadata_file=args.output,
        images_root=f"{prepared}/images" if prepared else None, latents_root=f"{prepared}/latents" if prepared else None,
    )
    bars = ProgressBars()  # the first run loads the label model (~20 s): a bar from the start, not silence
    try:
        result = pipeline.build_metadata(settings, layout, progress_for=bars)
    finally:
        bars.close()
    store = store_for_output(layout.metadata_file)
    print(json.dumps({"store": str(store), "view": str(metadata_view_path(store)), "report": str(metadata_report_path(store)),
                      **result.counts}, indent=1))
    return 0


if __name__ == "__main__":
    run_cli(main, "build_scenario_metadata")
