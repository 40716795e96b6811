"""The trainer's index of one scenario: one JSON line per sample (a window of a clip) whose latent cache is current,
with its clip, split, caption, prompt variants, window, latent and image paths and augmentations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prep_platform.lib.files.atomic import read_text_file, write_text_atomic
from prep_platform.lib.layout import sample_id_of
from prep_platform.lib.stages.latents import cached_variants
from prep_platform.lib.statuses import OK


@dataclass
class TrainingIndex:
    rows: list[dict]

    @property
    def counts(self) -> dict[str, int]:
        splits = [row["split"] for row in self.rows]
        return {"train": splits.count("train"), "validation": splits.count("validation")}


def build_training_index(records: list[dict], frames_manifest: dict | None, latents_manifest: dict) -> TrainingIndex:
    """`records`: the scenario's metadata records. Each of a clip's windows (the frame stage's ok rows; without a
    frames manifest, the clip itself) gets in only with a current cache for the window itself; its image path is
    the one the frame stage wrote. A clip's windows share its caption and prompt variants."""
    cached = cached_variants(latents_manifest)
    windows: dict[str, list[dict]] = {}
    for row in (frames_manifest or {"clips": []})["clips"]:
        if row["status"] == OK:
            windows.setdefault(row["video_id"], []).append(row)
    rows = []
    for record in records:
        for window in windows.get(record["video_id"], [{"video_id": record["video_id"], "image_path": record["image_path"]}]):
            sample = sample_id_of(window)
            variants = cached.get(sample, {})
            if "none" not in variants:
                continue
            rows.append({
                "video_id": record["video_id"], "sample_id": sample, "shard": record.get("shard", 0),
                "window_index": window.get("window_index", 0),
                "window_start_s": window.get("window_start_s"), "window_end_s": window.get("window_end_s"),
                "clean_window": window.get("clean_window"),
                "split": record["split"], "caption": record["caption"],
                "prompt_variants": record["prompt_variants"], "latent_path": variants["none"],
                "image_path": window["image_path"],
                "augmentations": {k: v for k, v in variants.items() if k != "none"},
                "dataset": record.get("source", {}).get("dataset", ""),
            })
    return TrainingIndex(rows)


def read_training_index(path: Path | str) -> list[dict]:
    """One row per line. Lines end at "\\n" only: `splitlines()` would also cut at U+2028/U+2029/U+0085, which
    JSON written with ensure_ascii=False keeps raw inside strings. An unreadable line names the file and line."""
    text = read_text_file(path)
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{path}: line {number} is not a JSON row ({exc})") from exc
    return rows


def write_training_index(path: Path | str, index: TrainingIndex) -> None:
    lines = [json.dumps(row, ensure_ascii=False) for row in index.rows]
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
