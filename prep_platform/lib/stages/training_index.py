"""The trainer's index of one shard: one row per sample (a window of a clip) whose latent cache is current, with its
clip, split, caption, prompt variants, window, latent and image paths and augmentations (Parquet, typed by
IndexRow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from prep_platform.lib.files import row_table
from prep_platform.lib.files.row_table import column
from prep_platform.lib.files.parquet_read import ParquetFileError
from prep_platform.lib.layout import DataLayout, sample_id_of
from prep_platform.lib.stages.latents import cached_variants
from prep_platform.lib.statuses import OK



@dataclass
class IndexRow:
    """A row of the training index: a sample the exports may use. The index's Parquet columns come from these
    fields."""

    video_id: str = column("the clip")
    sample_id: str = column("the sample (window)")
    shard: int = column("the clip's shard of work")
    window_index: int = column("0 for the clip's primary window")
    window_start_s: float | None = column("window start in the source, seconds")
    window_end_s: float | None = column("window end in the source, seconds")
    clean_window: bool | None = column("False: the window spans cuts")
    split: str = column("train or validation")
    caption: str = column("the clip's caption (its first prompt)")
    prompt_variants: list[str] = column("the caption, then its variants")
    latent_path: str = column("the sample's current latent cache")
    image_path: str = column("the sample's conditioning image")
    augmentations: dict = column("augmentation -> its cache file (hflip)")
    dataset: str = column("msr-vtt or panda-70m")


@dataclass
class TrainingIndex:
    rows: list[dict]

    @property
    def counts(self) -> dict[str, int]:
        splits = [row["split"] for row in self.rows]
        return {"train": splits.count("train"), "validation": splits.count("validation")}


def build_training_index(records: list[dict], frames_manifest: dict | None, latents_manifest: dict,
                         layout: DataLayout | None = None) -> TrainingIndex:
    """`records`: the scenario's metadata records. Each of a clip's windows (the frame stage's ok rows; without a
    frames manifest, the clip itself, its image where `layout` puts it) gets in only with a current cache for the
    window itself; its image path is the one the frame stage wrote. A clip's windows share its caption and prompt
    variants."""
    cached = cached_variants(latents_manifest)
    windows: dict[str, list[dict]] = {}
    for row in (frames_manifest or {"clips": []})["clips"]:
        if row["status"] == OK:
            windows.setdefault(row["video_id"], []).append(row)
    rows = []
    for record in records:
        clip_itself = {"video_id": record["video_id"],
                       "image_path": str(layout.image(record["scenario"], record["video_id"])) if layout else ""}
        for window in windows.get(record["video_id"], [clip_itself]):
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
    """Every row. A file that is not a readable index is refused naming it (ValueError)."""
    try:
        return row_table.read_rows(path, IndexRow)
    except (pa.ArrowException, ValueError) as exc:
        raise ParquetFileError(f"{path}: not a training index ({str(exc).removeprefix(f'{path}: ')})") from exc


def write_training_index(path: Path | str, index: TrainingIndex) -> None:
    row_table.write_rows(path, index.rows, IndexRow)
