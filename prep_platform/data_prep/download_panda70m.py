"""Panda-70M: write the manual-download instructions; from CSVs a user put in the folder, build a balanced
scenario subset with a download estimate; with --ingest-shards, probe downloaded shards into a manifest.

    python -m prep_platform.data_prep.download_panda70m --output-dir data/raw/panda70m --instructions-only
"""

from __future__ import annotations

import argparse
import json

from prep_platform.data_prep._cli import CliParser, run_cli
from prep_platform.lib.panda70m import NO_CSV_PRESENT, build_panda_subset, ingest_panda_shards, write_instructions
from prep_platform.lib.scenarios import ScenarioLabeller, load_scenarios


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="download_panda70m",
        description="Nothing is downloaded: Panda-70M needs manual access. Writes README.md with the steps; then, for "
        "every Panda-70M CSV in --output-dir, parses it (clip lists as Python literals, safely), keeps desirable clips "
        "above the matching-score threshold, labels them, and writes a balanced urban/nature/transport/crowd subset "
        "(panda70m_subset.csv, in the official downloader's format) with a size and time estimate.",
    )
    parser.add_argument("--output-dir", default="data/raw/panda70m")
    parser.add_argument("--instructions-only", action="store_true", help="only write README.md")
    parser.add_argument("--total", type=int, default=500, help="subset size (default: %(default)s)")
    parser.add_argument("--min-matching-score", type=float, default=0.4, help="default: %(default)s")
    parser.add_argument("--scenarios", default=None, help="scenarios YAML (default: the packaged one)")
    parser.add_argument("--storage-budget-gb", type=float, default=6.0)
    parser.add_argument("--ingest-shards", action="store_true", help="probe <output-dir>/shards into shards_manifest.csv")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    readme = write_instructions(args.output_dir)
    summary: dict = {"instructions": str(readme)}
    if not args.instructions_only:
        report = build_panda_subset(args.output_dir, ScenarioLabeller(load_scenarios(args.scenarios)), total=args.total,
                                    min_matching_score=args.min_matching_score, storage_budget_gb=args.storage_budget_gb)
        if report["state"] == NO_CSV_PRESENT:
            summary["subset"] = f"no Panda-70M CSV in {args.output_dir}: follow {readme}"
        else:
            summary["subset"] = {k: report[k] for k in ("subset_csv", "rows", "rows_failed", "per_scenario", "filtered", "estimate")}
            summary["subset"]["failed_lines"] = [f"{e['file']}:{e['line']}: {e['error']}" for e in report["parse_errors"]]
        if args.ingest_shards:
            summary["shards"] = ingest_panda_shards(args.output_dir)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    run_cli(main, "download_panda70m")
