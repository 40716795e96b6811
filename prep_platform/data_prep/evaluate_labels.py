"""Measure labels against hand labels: accuracy, per-scenario precision and recall, the share of labelled clips
that are wrong, the share of in-scenario clips lost, and a confusion table.

    python -m prep_platform.data_prep.evaluate_labels --reference ref.jsonl --predicted labels.jsonl
"""

from __future__ import annotations

import json

from prep_platform.data_prep._cli import CliParser, run_cli
from prep_platform.lib.labelling.evaluate import evaluate, read_ids, read_labels


def build_parser() -> CliParser:
    parser = CliParser(
        prog="evaluate_labels",
        description="Compare predicted scenario labels with reference (hand) labels. Both files are JSON lines with "
        "video_id and label or scenario; none, null or an empty string is no scenario. Prints the figures as JSON.",
    )
    parser.add_argument("--reference", required=True, help="hand labels, JSON lines, one row per clip (required)")
    parser.add_argument("--predicted", required=True,
                        help="labels to measure, e.g. label_captions' output, one row per clip (required)")
    parser.add_argument("--only", default=None,
                        help='a file of video_ids, one a line: "video12", {"video_id": "video12", ...} (a labels '
                        "file will do) or video12: score only these clips")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reference, predicted = read_labels(args.reference), read_labels(args.predicted)
    if args.only:
        keep = read_ids(args.only)
        reference = {k: v for k, v in reference.items() if k in keep}
    print(json.dumps(evaluate(reference, predicted), indent=1))
    return 0


if __name__ == "__main__":
    run_cli(main, "evaluate_labels")
