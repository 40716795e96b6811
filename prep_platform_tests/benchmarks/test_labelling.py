"""The README's words on the labelling development set are the file's: its size, its split into halves and the
labels in it (the README said 440 clips when the file held 540), and the Benchmarks section holds the figures of
both halves that the Scenarios section points to."""

import json
import re
from collections import Counter
from pathlib import Path

from prep_platform.benchmarks.labelling import DEV_LABELS, half

README = Path(__file__).resolve().parents[2] / "README.md"


def _dev_set() -> list[dict]:
    return [json.loads(line) for line in DEV_LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_states_the_dev_sets_size_halves_and_labels_as_the_file_holds_them():
    rows = _dev_set()
    readme = _words(README.read_text(encoding="utf-8"))
    counts = Counter(row["label"] for row in rows)
    halves = Counter(half(row["video_id"]) for row in rows)
    in_scenario = sum(n for label, n in counts.items() if label != "none")
    stated = re.search(r"msr_vtt_dev_labels\.jsonl`, is (\d+) real MSR-VTT clips", readme)
    assert stated and int(stated.group(1)) == len(rows) == len({row["video_id"] for row in rows})
    assert f"{in_scenario} in a scenario" in readme and f"{counts['none']} in none" in readme
    for label, n in counts.items():
        assert label == "none" or f"{label} {n}" in readme, (label, n)
    assert f"even sha256(video_id) ({halves['tune']} clips)" in readme
    assert f"held-out half ({halves['held-out']} clips)" in readme


def test_the_benchmarks_section_holds_the_figures_of_both_halves():
    rows = _dev_set()
    benchmarks = README.read_text(encoding="utf-8").split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    assert "python -m prep_platform.benchmarks.labelling --annotation" in benchmarks
    for name, size in (("held-out, odd", sum(half(r["video_id"]) == "held-out" for r in rows)),
                       ("tuning, even", sum(half(r["video_id"]) == "tune" for r in rows)), ("all", len(rows))):
        for labeller in ("embedding", "keywords"):
            assert re.search(rf"\| {re.escape(name)} \({size}; \d+\) \| {labeller} \| 0\.\d{{3}} \|", benchmarks), (name, labeller)
