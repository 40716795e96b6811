"""Figures of a labeller against hand labels: accuracy, per-scenario precision and recall, the share of labelled
clips that are wrong, the share of in-scenario clips lost, and a confusion table. `none` (or null) is no scenario."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

NONE = "none"


def read_labels(path: Path | str) -> dict[str, str]:
    """video_id -> label from a JSON-lines file whose rows hold `video_id` and `label` or `scenario` (null, "" or
    "none": no scenario). A bad line names the file and line."""
    from prep_platform.lib.files.atomic import read_text_file

    labels = {}
    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            video_id = row["video_id"]
            label = row["label"] if "label" in row else row["scenario"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: line {number} is not a label row with video_id and label/scenario ({exc})") from None
        labels[str(video_id)] = NONE if label in (None, "", NONE) else str(label)
    return labels


def evaluate(reference: dict[str, str], predicted: dict[str, str]) -> dict:
    """Figures over the clips both files hold (those only in one are counted, not scored)."""
    common = sorted(set(reference) & set(predicted))
    pairs = [(reference[v], predicted[v]) for v in common]
    scenarios = sorted({label for pair in pairs for label in pair} - {NONE})
    correct = sum(r == p for r, p in pairs)
    labelled = [(r, p) for r, p in pairs if p != NONE]
    in_scenario = [(r, p) for r, p in pairs if r != NONE]
    per_scenario = {}
    for name in scenarios:
        tp = sum(r == p == name for r, p in pairs)
        predicted_n = sum(p == name for _, p in pairs)
        actual_n = sum(r == name for r, _ in pairs)
        per_scenario[name] = {"precision": round(tp / predicted_n, 3) if predicted_n else None,
                              "recall": round(tp / actual_n, 3) if actual_n else None,
                              "predicted": predicted_n, "actual": actual_n}
    confusion = Counter(f"{r} -> {p}" for r, p in pairs)
    return {
        "clips": len(common),
        "only_in_reference": len(set(reference) - set(predicted)),
        "only_in_predicted": len(set(predicted) - set(reference)),
        "accuracy": round(correct / len(pairs), 4) if pairs else None,
        "labelled": len(labelled),
        "wrong_share_of_labelled": round(sum(r != p for r, p in labelled) / len(labelled), 4) if labelled else None,
        "in_scenario": len(in_scenario),
        "lost_share_of_in_scenario": round(sum(p != r for r, p in in_scenario) / len(in_scenario), 4) if in_scenario else None,
        "none_given_a_scenario": round(sum(p != NONE for r, p in pairs if r == NONE) / max(1, sum(r == NONE for r, _ in pairs)), 4),
        "per_scenario": per_scenario,
        "confusion": dict(sorted(confusion.items())),
    }
