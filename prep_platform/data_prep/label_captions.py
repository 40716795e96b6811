"""Label the clips of an MSR-VTT annotation from their captions (and categories) alone, with exactly the labeller
and settings the metadata stage uses: preview how a scenarios file labels a dataset before downloading its videos.

    python -m prep_platform.data_prep.label_captions --annotation MSRVTT_data.json [--scenarios my.yaml] \\
        [--labeller embedding|keywords] --output labels.jsonl
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from prep_platform.data_prep._cli import ProgressBars, SettingsParser, non_negative_int, run_cli
from prep_platform.lib.files.atomic import write_text_atomic
from prep_platform.lib.scenarios import LABELLERS, load_scenarios
from prep_platform.lib.sources.msr_vtt import MAX_ANNOTATION_BYTES
from prep_platform.lib.stages.metadata import label_annotation


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="label_captions",
        description="Label every clip of an MSR-VTT annotation (MSRVTT_data.json, or the release's .json.gz) with a "
        "scenario from all of its captions, as the metadata stage does, without any video. Writes one JSON line per "
        "clip: video_id, scenario (null when kept out), reason, confidence; prints a summary.",
    )
    parser.add_argument("--annotation", required=True,
                        help=f"the MSR-VTT annotation file, .json or .json.gz; at most {MAX_ANNOTATION_BYTES >> 20} MiB "
                        "once decompressed (a larger one is refused while it is read) (required)")
    parser.add_argument("--output", required=True,
                        help="the labels file to write, JSON lines; never a folder or the annotation itself (required)")
    parser.add_argument("--labeller", choices=LABELLERS, default=None,
                        help="embedding or keywords (default: the scenarios file's labelling.labeller)")
    parser.add_argument("--limit", type=non_negative_int, default=None, help="only the first N clips; 0 for all (default: all)")
    parser.add_argument("--cache-dir", default=None,
                        help="caption embeddings and the unpacked model (default: <data-root>/cache)")
    parser.setting("--scenarios", "scenarios_file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    refuse_output(args.output, args.annotation)
    scenarios = load_scenarios(settings.scenarios_file)
    cache_root = Path(args.cache_dir) if args.cache_dir else settings.layout().cache_root
    bars = ProgressBars()  # the first run embeds every caption (minutes for MSR-VTT on a CPU): never silence
    try:
        rows, facts = label_annotation(args.annotation, scenarios, cache_root=cache_root, labeller_kind=args.labeller,
                                       limit=args.limit, progress_for=bars)
    finally:
        bars.close()
    write_text_atomic(args.output, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(json.dumps({"output": args.output, **facts}, indent=1))
    return 0


def refuse_output(output: str, annotation: str) -> None:
    """ValueError (one line, exit 2) for an --output that cannot take the labels: a folder, or the annotation itself
    (by any name: a link to it included), which would be replaced by its own labels. Checked before any work."""
    if Path(output).is_dir():
        raise ValueError(f"--output {output}: a folder; give the labels file to write, e.g. {Path(output) / 'labels.jsonl'}")
    try:
        same = os.path.samefile(output, annotation)
    except OSError:  # either is not there: nothing to overwrite (a missing annotation is said when it is read)
        same = False
    if same:
        raise ValueError(f"--output {output}: is the annotation (--annotation {annotation}); the labels never replace their input")


if __name__ == "__main__":
    run_cli(main, "label_captions")
