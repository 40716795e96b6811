"""Download a VATEX split's annotation and, with --download-videos, its clips from a video mirror; then the
evaluation prompts (the assets vatex_raw and vatex_eval_prompts).

    python -m prep_platform.data_prep.download_vatex --output-dir data/raw/vatex --split validation --limit 50 \\
        --download-videos --repo-id <annotation repo> [--video-repo-id <mirror repo>] [--retry-failed]
"""

from __future__ import annotations

import json
import sys

from prep_platform.data_prep._cli import EXIT_USAGE, SettingsParser, clip_progress, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.sources.vatex import ANNOTATION_FILES
from prep_platform.samples import DEMO_SAMPLE


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="download_vatex",
        description="Download a VATEX annotation file through huggingface_hub (HF_ENDPOINT, HF_TOKEN honoured), parse "
        "videoID into YouTube id / start / end, keep English and Chinese captions; with --download-videos fetch each "
        "clip from a video mirror (a dataset repo holding <prefix><videoID>.mp4) and record ok / unavailable / failed; "
        "then write the evaluation prompts (English and Chinese, scenario, conditioning image) under <data-root>/eval.",
    )
    parser.profile_option()  # the evaluation images' size follows the profile's rules
    parser.add_argument("--output-dir", default=None, help="output folder (default: <data-root>/raw/vatex)")
    parser.setting("--split", "vatex_split", choices=sorted(ANNOTATION_FILES))
    parser.setting("--limit", "vatex_limit")
    parser.setting("--source", "vatex_source")
    parser.setting("--repo-id", "vatex_repo_id")
    parser.setting("--revision", "vatex_revision")
    parser.setting("--annotation-file", "vatex_annotation_file")
    parser.setting("--video-repo-id", "vatex_video_repo_id")
    parser.setting("--video-revision", "vatex_video_revision")
    parser.setting("--video-prefix", "vatex_video_prefix")
    parser.setting("--endpoint", "hub_endpoint")
    parser.setting("--download-videos", "vatex_download_videos")
    parser.setting("--retry-failed", "vatex_retry_failed")
    parser.setting("--size", "frame_size", help="the size of the evaluation conditioning images")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(vatex=args.output_dir)
    if not pipeline.vatex_configured(settings):
        print("download_vatex: error: VATEX has no canonical Hub repo: pass --repo-id (a dataset repo holding the "
              "annotation files; --video-repo-id for a separate video mirror), or --source sample or a local folder",
              file=sys.stderr)
        return EXIT_USAGE
    with clip_progress("vatex clips") as progress:
        result = pipeline.fetch_vatex(settings, layout, sample=DEMO_SAMPLE, progress=progress)
    prompts = pipeline.build_eval_prompts(settings, layout)
    report = result.report
    print(json.dumps({"annotation": str(result.annotation_path), "clips": report["clips"],
                      "video_counts": report["video_counts"], "available_share": report["available_share"],
                      "storage_bytes": report["storage_bytes"], "eval_prompts": str(layout.eval.prompts),
                      "eval_prompts_with_image": sum(v["with_image"] for v in prompts["summary"].values())}, indent=1))
    for clip in result.clips:
        if clip["video_status"] in ("failed", "unavailable"):
            print(f"  {clip['video_id']}: {clip['video_status']}: {clip['reason']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main, "download_vatex")
