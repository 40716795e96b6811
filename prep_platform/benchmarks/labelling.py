"""Scenario labelling on a real annotation: the embedding labeller's first run (every caption embedded) and its
cached re-run, and the keyword labeller, side by side in one run; with hand labels, the figures of both (on the
tune half, the held-out half and all: halves by the parity of sha256(video_id)).

    python -m prep_platform.benchmarks.labelling --annotation ../shared/data/msr-vtt/train_val_videodatainfo.dev.json.gz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

from prep_platform.lib.labelling.evaluate import evaluate, read_labels
from prep_platform.lib.scenarios import load_scenarios
from prep_platform.lib.stages.metadata import label_annotation

DEV_LABELS = Path(__file__).parent / "labels" / "msr_vtt_dev_labels.jsonl"


def half(video_id: str) -> str:
    """The dev set's halves: tuned on 'tune', reported on 'held-out'."""
    return "tune" if int(hashlib.sha256(video_id.encode()).hexdigest(), 16) % 2 == 0 else "held-out"


def run(annotation: str, scenarios, cache_root: Path, labeller: str) -> tuple[dict, dict, float]:
    started = time.perf_counter()
    rows, facts = label_annotation(annotation, scenarios, cache_root=cache_root, labeller_kind=labeller)
    return {r["video_id"]: r["scenario"] or "none" for r in rows}, facts, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation", required=True, help="an MSR-VTT annotation (.json or .json.gz)")
    parser.add_argument("--reference", default=str(DEV_LABELS), help="hand labels (default: the project's dev set)")
    parser.add_argument("--scenarios", default=None, help="scenarios YAML (default: the packaged one)")
    args = parser.parse_args()
    scenarios = load_scenarios(args.scenarios)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        first, facts, first_s = run(args.annotation, scenarios, cache, "embedding")
        again, again_facts, again_s = run(args.annotation, scenarios, cache, "embedding")
        keywords, _, keywords_s = run(args.annotation, scenarios, cache, "keywords")
    assert again == first, "the cached re-run labelled differently"
    clips = facts["clips"]
    print(f"labelling {clips} clips of {args.annotation} on this machine (wall seconds, model load included)")
    print(f"  embedding, first run: {first_s:.1f} s ({facts['embeddings_computed']} texts embedded, "
          f"{clips / first_s:.0f} clips/s)")
    print(f"  embedding, cached re-run: {again_s:.1f} s ({again_facts['embeddings_computed']} embedded, "
          f"{again_facts['embeddings_from_cache']} from the cache)")
    print(f"  keywords: {keywords_s:.1f} s")
    print(f"  labelled: embedding {sum(v != 'none' for v in first.values())}, "
          f"keywords {sum(v != 'none' for v in keywords.values())} of {clips}")
    if args.reference and Path(args.reference).exists():
        reference = read_labels(args.reference)
        figures = {}
        for name in ("tune", "held-out", "all"):
            subset = {v: label for v, label in reference.items() if name == "all" or half(v) == name}
            figures[name] = {kind: evaluate(subset, predicted) for kind, predicted in
                             (("embedding", first), ("keywords", keywords))}
            for kind, f in figures[name].items():
                print(f"  {name:8s} {kind:9s} clips {f['clips']:3d}: accuracy {f['accuracy']:.3f}, wrong share of "
                      f"labelled {f['wrong_share_of_labelled']:.3f} ({f['labelled']}), lost share of in-scenario "
                      f"{f['lost_share_of_in_scenario']:.3f} ({f['in_scenario']})")
        print(json.dumps({"held_out": figures["held-out"]["embedding"]}, indent=1))


if __name__ == "__main__":
    main()
