"""Figures of a labeller against hand labels: accuracy, per-scenario precision and recall, the share of labelled
clips that are wrong, the share of in-scenario clips lost, and a confusion table. `none` (or null) is no scenario."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from prep_platform.lib.safe_paths import SAFE_ID_PATTERN

NONE = "none"


def _lines(path: Path | str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; a folder or a file that is not UTF-8 is a ValueError naming it."""
    from prep_platform.lib.files.atomic import read_text_file

    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if line.strip():
            yield number, line


def _parse(path: Path | str, number: int, line: str) -> object:
    """One line's JSON value; one that is not JSON (nested too deeply for the parser included) is a ValueError
    naming the file and the line."""
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
    except RecursionError:  # `[[[[...` 100,000 deep: json's parser recurses once a level
        raise ValueError(f"{path}: line {number} is not JSON (nested too deeply)") from None


def read_labels(path: Path | str) -> dict[str, str]:
    """video_id -> label from a JSON-lines file whose rows hold `video_id` and `label` or `scenario` (null, "" or
    "none": no scenario). A bad line names the file and line; so does a second row for a clip (which label to score
    would be a guess)."""
    labels: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in _lines(path):
        row = _parse(path, number, line)
        if not (isinstance(row, dict) and "video_id" in row and ("label" in row or "scenario" in row)):
            raise ValueError(f"{path}: line {number} is not a label row (an object with video_id and label or scenario)")
        video_id = str(row["video_id"])
        label = row["label"] if "label" in row else row["scenario"]
        if video_id in lines:
            raise ValueError(f"{path}: line {number}: a second label for clip {video_id!r} (the first is on line "
                             f"{lines[video_id]}); give each clip one row")
        lines[video_id] = number
        labels[video_id] = NONE if label in (None, "", NONE) else str(label)
    return labels


def read_ids(path: Path | str) -> set[str]:
    """The video_ids of a file of one id a line: a JSON string (`"video12"`), an object with `video_id` (so a labels
    file will do: its other keys are ignored), or the bare id (`video12`, as `cut -f1` would give). A line that is
    none of these names the file and the line."""
    ids = set()
    for number, line in _lines(path):
        text = line.strip()
        if SAFE_ID_PATTERN.fullmatch(text) and not text.isdigit() and text not in ("true", "false", "null"):
            ids.add(text)  # a bare id (what JSON would read as a number or a literal is read as JSON)
            continue
        row = _parse(path, number, line)
        if isinstance(row, dict) and "video_id" in row:
            row = row["video_id"]
        if not isinstance(row, (str, int)) or isinstance(row, bool):
            raise ValueError(f"{path}: line {number} is not a video_id (\"video12\", {{\"video_id\": \"video12\"}} "
                             f"or video12)")
        ids.add(str(row))
    return ids


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
