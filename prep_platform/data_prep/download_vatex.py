"""Download a VATEX split's annotation and, with --download-videos, its clips from a video mirror.

    python -m prep_platform.data_prep.download_vatex --output-dir data/raw/vatex --split validation --limit 50 \\
        --download-videos --repo-id <annotation repo> [--video-repo-id <mirror repo>] [--retry-failed]
"""

from __future__ import annotations

import argparse
import json
import sys

from prep_platform.data_prep._cli import CliParser, clip_progress, run_cli
from prep_platform.lib.vatex import ANNOTATION_FILES, VatexSourceConfig, download_vatex


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="download_vatex",
        description="Download a VATEX annotation file through huggingface_hub (HF_ENDPOINT, HF_TOKEN honoured), parse "
        "videoID into YouTube id / start / end, keep English and Chinese captions; with --download-videos fetch each "
        "clip from a video mirror (a dataset repo holding <prefix><videoID>.mp4) and record ok / unavailable / failed.",
    )
    parser.add_argument("--output-dir", default="data/raw/vatex")
    parser.add_argument("--split", choices=sorted(ANNOTATION_FILES), default="validation")
    parser.add_argument("--limit", type=int, default=50, help="first N clips of the split; 0 for all (default: %(default)s)")
    parser.add_argument("--source", default="hub", help="hub, sample (embedded, offline) or a local folder (default: %(default)s)")
    parser.add_argument("--repo-id", default=None, help="dataset repo holding the annotation files (hub source)")
    parser.add_argument("--revision", default="main")
    parser.add_argument("--annotation-file", default=None, help="path in the repo (default: the split's official name)")
    parser.add_argument("--video-repo-id", default=None, help="video mirror repo (default: --repo-id)")
    parser.add_argument("--video-revision", default="main")
    parser.add_argument("--video-prefix", default="videos/", help="folder of the clips in the mirror (default: %(default)s)")
    parser.add_argument("--endpoint", default=None, help="Hub endpoint (default: $HF_ENDPOINT or the public Hub)")
    parser.add_argument("--download-videos", action="store_true", help="fetch the clips from the mirror")
    parser.add_argument("--retry-failed", action="store_true", help="re-attempt clips that failed before (only those)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = VatexSourceConfig(
        source=args.source, repo_id=args.repo_id, revision=args.revision, annotation_file=args.annotation_file,
        video_repo_id=args.video_repo_id, video_revision=args.video_revision, video_prefix=args.video_prefix,
        endpoint=args.endpoint,
    )
    with clip_progress("vatex clips") as progress:
        result = download_vatex(args.output_dir, config=config, split=args.split, limit=args.limit or None,
                                download_videos=args.download_videos, retry_failed=args.retry_failed, progress=progress)
    report = result.report
    print(json.dumps({"annotation": str(result.annotation_path), "clips": report["clips"],
                      "video_counts": report["video_counts"], "available_share": report["available_share"],
                      "storage_bytes": report["storage_bytes"]}, indent=1))
    for clip in result.clips:
        if clip["video_status"] in ("failed", "unavailable"):
            print(f"  {clip['video_id']}: {clip['video_status']}: {clip['reason']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main, "download_vatex")
