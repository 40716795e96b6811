"""Label MSR-VTT clips with scenarios and write the train/validation metadata JSON.

    python -m prep_platform.data_prep.build_scenario_metadata --msr-vtt data/raw/msr-vtt \
        --output data/metadata/scenario_metadata.json --limit 1500 --validation-ratio 0.1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from prep_platform.data_prep._cli import CliParser, run_cli
from prep_platform.lib.frames import FrameConfig, parse_size
from prep_platform.lib.metadata import build_scenario_metadata, report_path_for, write_scenario_metadata
from prep_platform.lib.scenarios import packaged_scenarios_path


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="build_scenario_metadata",
        description="Label every ok clip of an MSR-VTT folder (annotation + manifest.csv) with a scenario from all "
        "of its captions and its category, split train/validation per scenario, and write the metadata JSON "
        "plus a report of how it was made and which clips were kept out and why.",
    )
    parser.add_argument("--msr-vtt", default="data/raw/msr-vtt", help="folder written by download_msr_vtt (default: %(default)s)")
    parser.add_argument("--scenarios", default=None, help=f"scenarios YAML (default: the packaged {packaged_scenarios_path().name})")
    parser.add_argument("--output", default="data/metadata/scenario_metadata.json", help="output JSON (default: %(default)s)")
    parser.add_argument(
        "--prepared-dir", default=None,
        help="folder the records' image_path / latent_path point into (default: <output>/../../prepared, i.e. data/prepared)",
    )
    parser.add_argument("--limit", type=int, default=1500, help="first N manifest clips; 0 for all (default: %(default)s)")
    parser.add_argument("--validation-ratio", type=float, default=0.1, help="share per scenario (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="split seed; same input and seed, same split (default: %(default)s)")
    parser.add_argument("--size", default="720x480", help="frame size the image paths are for, width x height (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=49, help="window length the image paths are for (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate the image paths are for (default: %(default)s)")
    parser.add_argument("--panda-dir", default=None, help="a Panda-70M folder with ingested shards to label beside MSR-VTT")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    width, height = parse_size(args.size)
    prepared_dir = args.prepared_dir or (output.parent.parent / "prepared").as_posix()
    result = build_scenario_metadata(
        args.msr_vtt,
        scenarios=args.scenarios,
        prepared_dir=prepared_dir,
        limit=args.limit or None,
        validation_ratio=args.validation_ratio,
        seed=args.seed,
        panda_dir=args.panda_dir,
        frame_config=FrameConfig(fps=args.fps, width=width, height=height, frames=args.frames),
    )
    write_scenario_metadata(result, output)
    counts = result.counts
    print(json.dumps({"output": str(output), "report": str(report_path_for(output)), **counts}, indent=1))
    return 0


if __name__ == "__main__":
    run_cli(main, "build_scenario_metadata")
