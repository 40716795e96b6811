"""Panda-70M: write the manual-download instructions; from CSVs a user put in the folder, build a balanced
scenario subset with a download estimate; with --ingest-shards, probe downloaded shards into a manifest (the
assets panda70m_instructions, panda70m_subset and panda70m_shards).

    python -m prep_platform.data_prep.download_panda70m --output-dir data/raw/panda70m --instructions-only
"""

from __future__ import annotations

import json

from prep_platform.data_prep._cli import SettingsParser, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.sources.panda70m import NO_CSV_PRESENT
from prep_platform.samples import DEMO_SAMPLE


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="download_panda70m",
        description="Nothing is downloaded: Panda-70M needs manual access. Writes README.md with the steps; then, for "
        "every Panda-70M CSV in --output-dir, parses it (clip lists as Python literals, safely), keeps desirable clips "
        "above the matching-score threshold, labels them, and writes a balanced urban/nature/transport/crowd subset "
        "(panda70m_subset.csv, in the official downloader's format) with a size and time estimate.",
    )
    parser.profile_option()
    parser.add_argument("--output-dir", default=None, help="Panda-70M folder (default: <data-root>/raw/panda70m)")
    parser.add_argument("--instructions-only", action="store_true", help="only write README.md")
    parser.setting("--total", "panda_subset_total")
    parser.setting("--min-matching-score", "panda_min_matching_score")
    parser.setting("--scenarios", "scenarios_file")
    parser.setting("--storage-budget-gb", "storage_budget_gb")
    parser.setting("--sample", "panda_sample")
    parser.add_argument("--ingest-shards", action="store_true",
                        help="probe every download shard in <output-dir>/shards (folders or webdataset tars, read in "
                        "place) into <output-dir>/ingested/<shard>.csv; unchanged shards are skipped")
    parser.setting("--frames", "frames", help="a clip shorter than the window is too_short")
    parser.setting("--fps", "fps", help="training frame rate: with --frames, the seconds a clip needs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(panda=args.output_dir)
    readme = pipeline.panda_instructions(settings, layout, sample=DEMO_SAMPLE)
    summary: dict = {"instructions": str(readme)}
    if not args.instructions_only:
        report = pipeline.select_panda_subset(settings, layout)
        if report["state"] == NO_CSV_PRESENT:
            summary["subset"] = f"no Panda-70M CSV in {layout.panda.root}: follow {readme}"
        else:
            summary["subset"] = {k: report[k] for k in ("subset_csv", "rows", "rows_failed", "per_scenario", "filtered", "estimate")}
            summary["subset"]["failed_lines"] = [f"{e['file']}:{e['line']}: {e['error']}" for e in report["parse_errors"]]
        if args.ingest_shards:
            summary["shards"] = pipeline.ingest_panda_shards(settings, layout)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    run_cli(main, "download_panda70m")
