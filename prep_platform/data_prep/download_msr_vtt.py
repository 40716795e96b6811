"""Download MSR-VTT, extract the first N training clips and write the clip manifest (the asset msr_vtt_raw).

    python -m prep_platform.data_prep.download_msr_vtt --output-dir data/raw/msr-vtt --limit 1500
"""

from __future__ import annotations

import json
import sys

from prep_platform.data_prep._cli import EXIT_ENVIRONMENT, EXIT_OK, SettingsParser, clip_progress, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.sources.msr_vtt import WRITE_FAILED
from prep_platform.samples import DEMO_SAMPLE


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="download_msr_vtt",
        description="Download MSR-VTT through huggingface_hub (HF_ENDPOINT and HF_TOKEN honoured), extract the "
        "first N training clips (train split, then validate) and probe each into manifest.csv. "
        "Interrupted downloads resume; a second run with nothing changed downloads and extracts nothing.",
    )
    parser.profile_option()
    parser.add_argument("--output-dir", default=None, help="output folder (default: <data-root>/raw/msr-vtt)")
    parser.setting("--limit", "msr_vtt_limit")
    parser.setting("--source", "msr_vtt_source")
    parser.setting("--repo-id", "msr_vtt_repo_id")
    parser.setting("--revision", "msr_vtt_revision")
    parser.setting("--annotation-file", "msr_vtt_annotation_file")
    parser.setting("--videos-archive", "msr_vtt_videos_archive")
    parser.setting("--endpoint", "hub_endpoint")
    parser.setting("--min-duration", "min_clip_duration_s")
    parser.setting("--frames", "frames", help="a clip must hold one window")
    parser.setting("--fps", "fps")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(msr_vtt=args.output_dir)
    with clip_progress("extract + probe") as progress:
        result = pipeline.fetch_msr_vtt(settings, layout, sample=DEMO_SAMPLE, progress=progress)
    report = result.report
    print(json.dumps({"manifest": str(result.manifest_path), "counts": result.counts,
                      "extracted": report["extracted"], "already_extracted": report["already_extracted"],
                      "bytes_ok": report["bytes_ok"]}, indent=1))
    for row in result.rows:
        if row.status != "ok":
            print(f"  {row.video_id}: {row.status}: {row.error}", file=sys.stderr)
    if result.counts.get(WRITE_FAILED):
        print(f"download_msr_vtt: {result.counts[WRITE_FAILED]} clip(s) could not be written (see above); free space "
              f"and run the same command again: extracted clips are kept", file=sys.stderr)
        return EXIT_ENVIRONMENT
    return EXIT_OK


if __name__ == "__main__":
    run_cli(main, "download_msr_vtt")
