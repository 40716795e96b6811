"""The trainer's index of one scenario: one JSON line per clip whose latent cache is current, with its split,
caption, prompt variants, latent and image paths and augmentations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prep_platform.lib.files.atomic import write_text_atomic
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
    """`records`: the scenario's metadata records. A clip gets in only with a current cache for the clip itself;
    its image path is the one the frame stage wrote."""
    cached = cached_variants(latents_manifest)
    images = {clip["video_id"]: clip["image_path"] for clip in (frames_manifest or {"clips": []})["clips"] if clip["status"] == OK}
    rows = []
    for record in records:
        variants = cached.get(record["video_id"], {})
        if "none" not in variants:
            continue
        rows.append({
            "video_id": record["video_id"], "split": record["split"], "caption": record["caption"],
            "prompt_variants": record["prompt_variants"], "latent_path": variants["none"],
            "image_path": images.get(record["video_id"], record["image_path"]),
            "augmentations": {k: v for k, v in variants.items() if k != "none"},
            "dataset": record.get("source", {}).get("dataset", ""),
        })
    return TrainingIndex(rows)


def read_training_index(path: Path | str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_training_index(path: Path | str, index: TrainingIndex) -> None:
    lines = [json.dumps(row, ensure_ascii=False) for row in index.rows]
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
