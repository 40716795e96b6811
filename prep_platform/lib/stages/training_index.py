"""The trainer's index of one shard: one row per sample (a window of a clip) whose latent cache is current, with its
clip, split, caption, prompt variants, window, latent and image paths and augmentations (Parquet, typed by
IndexRow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from prep_platform.lib.files import row_table
from prep_platform.lib.files.row_table import column
from prep_platform.lib.files.row_table import ParquetFileError
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.sample import Sample, SourceFile, Window
from prep_platform.lib.stages.latents import cached_variants



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


def build_training_index(records: list[dict], samples: list[Sample] | None, latents_manifest: dict,
                         layout: DataLayout | None = None) -> TrainingIndex:
    """`records`: the scenario's metadata records; `samples`: the windows the frame stage gave (None without a frame
    stage: each clip is its own sample, its image where `layout` puts it). A sample gets in only with a current cache
    for the window itself; its image path is the one the frame stage wrote. A clip's windows share its caption and
    prompt variants."""
    cached = cached_variants(latents_manifest)
    windows: dict[str, list[Sample]] = {}
    for sample in samples or ():
        windows.setdefault(sample.video_id, []).append(sample)
    rows = []
    for record in records:
        for sample in windows.get(record["video_id"]) or [_clip_itself(record, layout)]:
            variants = cached.get(sample.sample_id, {})
            if "none" not in variants:
                continue
            window = sample.window or Window()
            rows.append({
                "video_id": sample.video_id, "sample_id": sample.sample_id, "shard": record.get("shard", 0),
                "window_index": window.window_index or 0,
                "window_start_s": window.window_start_s, "window_end_s": window.window_end_s,
                "clean_window": window.clean_window,
                "split": record["split"], "caption": record["caption"],
                "prompt_variants": record["prompt_variants"], "latent_path": variants["none"],
                "image_path": sample.image_path,
                "augmentations": {k: v for k, v in variants.items() if k != "none"},
                "dataset": record.get("source", {}).get("dataset", ""),
            })
    return TrainingIndex(rows)


def _clip_itself(record: dict, layout: DataLayout | None) -> Sample:
    """A clip with no frame stage behind it: one sample, the clip, its image where the layout puts it."""
    image = str(layout.image(record["scenario"], record["video_id"])) if layout else ""
    return Sample(record["video_id"], record["video_id"], record["scenario"], record.get("split"),
                  SourceFile(record.get("video_path", ""), None), image)


def read_training_index(path: Path | str) -> list[dict]:
    """Every row. A file that is not a readable index is refused naming it (ValueError)."""
    try:
        return row_table.read_rows(path, IndexRow)
    except (pa.ArrowException, ValueError) as exc:
        raise ParquetFileError(f"{path}: not a training index ({str(exc).removeprefix(f'{path}: ')})") from exc


def write_training_index(path: Path | str, index: TrainingIndex) -> None:
    row_table.write_rows(path, index.rows, IndexRow)
