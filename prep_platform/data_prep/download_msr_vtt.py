"""Download MSR-VTT, extract the first N training clips and write the clip manifest.

    python -m prep_platform.data_prep.download_msr_vtt --output-dir data/raw/msr-vtt --limit 1500
"""

from __future__ import annotations

import argparse
import json
import sys

from prep_platform.data_prep._cli import EXIT_ENVIRONMENT, EXIT_OK, CliParser, clip_progress, run_cli
from prep_platform.lib.msr_vtt_download import (
    DEFAULT_ANNOTATION_FILE,
    DEFAULT_REPO_ID,
    DEFAULT_VIDEOS_ARCHIVE,
    WRITE_FAILED,
    MsrVttSourceConfig,
    download_msr_vtt,
)
from prep_platform.lib.probe import min_window_duration


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="download_msr_vtt",
        description="Download MSR-VTT through huggingface_hub (HF_ENDPOINT and HF_TOKEN honoured), extract the "
        "first N training clips (train split, then validate) and probe each into manifest.csv. "
        "Interrupted downloads resume; a second run with nothing changed downloads and extracts nothing.",
    )
    parser.add_argument("--output-dir", default="data/raw/msr-vtt", help="output folder (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=1500, help="clips to extract; 0 for all (default: %(default)s)")
    parser.add_argument(
        "--source", default="hub",
        help="'hub' (Hugging Face dataset repo), 'sample' (the embedded offline sample) or a local folder laid out "
        "like the repo (default: %(default)s)",
    )
    parser.add_argument("--repo-id", default=DEFAULT_REPO_ID, help="dataset repo (default: %(default)s)")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default: %(default)s)")
    parser.add_argument("--annotation-file", default=DEFAULT_ANNOTATION_FILE, help="path in the repo (default: %(default)s)")
    parser.add_argument("--videos-archive", default=DEFAULT_VIDEOS_ARCHIVE, help="path in the repo (default: %(default)s)")
    parser.add_argument("--endpoint", default=None, help="Hub endpoint (default: $HF_ENDPOINT or the public Hub)")
    parser.add_argument(
        "--min-duration", type=float, default=None,
        help="seconds a clip needs to be usable (default: what --frames at --fps span)",
    )
    parser.add_argument("--frames", type=int, default=49, help="training window length in frames (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=8.0, help="training fps (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    config = MsrVttSourceConfig(
        source=args.source,
        repo_id=args.repo_id,
        revision=args.revision,
        annotation_file=args.annotation_file,
        videos_archive=args.videos_archive,
        endpoint=args.endpoint,
    )
    min_duration = args.min_duration if args.min_duration is not None else min_window_duration(args.frames, args.fps)
    with clip_progress("extract + probe") as progress:
        result = download_msr_vtt(
            args.output_dir, config=config, limit=args.limit or None, min_duration_s=min_duration, progress=progress
        )
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
