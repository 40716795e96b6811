"""Real Parquet inputs damaged as a disk, a copy or a person damages them: bytes flipped inside a column's data page,
the file cut short, a column dropped, retyped or nulled (rewritten with pyarrow); and a small real metadata store."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from prep_platform.lib.files.metadata_store import write_records
from prep_platform.samples.synthetic_clips import write_clip


def small_store(folder: Path, clips: int = 3, *, with_clips: bool = False) -> Path:
    """A metadata store of `clips` urban train records, all in shard 0 (real 2 s H.264 clips when `with_clips`)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for n in range(clips):
        clip = folder / f"video{n}.mp4"
        if with_clips:
            write_clip(clip, width=160, height=120, fps=Fraction(24), seconds=2.0, seed=n, textured=True)
        records.append({"video_id": f"video{n}", "scenario": "urban", "split": "train", "shard": 0,
                        "video_path": str(clip), "caption": "a busy street", "prompt_variants": ["a busy street"],
                        "source": {"dataset": "msr-vtt", "fps": 24.0, "width": 160, "height": 120,
                                   "duration_s": 2.0, "frame_count": 48},
                        "label": {"labeller": "keywords"}})
    store = folder / "scenario_metadata.parquet"
    write_records(store, records)
    return store


def _chunk(path: Path, column: str):
    metadata = pq.ParquetFile(path).metadata.row_group(0)
    return next(metadata.column(i) for i in range(metadata.num_columns)
                if metadata.column(i).path_in_schema.split(".")[0] == column)


def _flip(path: Path, start: int, count: int) -> None:
    data = bytearray(path.read_bytes())
    for at in range(start, start + count):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def flip_page_header(path: Path, column: str) -> None:
    """The first bytes of the column's data page (its Thrift header) flipped: Arrow's `Couldn't deserialize thrift`."""
    _flip(path, _chunk(path, column).data_page_offset, 6)


def flip_page_data(path: Path, column: str) -> None:
    """Bytes at the end of the column's data page (its values) flipped: the page's CRC no longer matches."""
    chunk = _chunk(path, column)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    _flip(path, start + chunk.total_compressed_size - 3, 2)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    """The file rewritten by pyarrow with `change` applied to its table (as a hand edit in pandas would)."""
    pq.write_table(change(pq.read_table(path)), path)


def drop_column(name: str) -> Callable[[pa.Table], pa.Table]:
    return lambda table: table.drop_columns([name])


def retype_column(name: str, to: pa.DataType) -> Callable[[pa.Table], pa.Table]:
    return lambda table: table.set_column(table.schema.get_field_index(name), name, table.column(name).cast(to))


def set_value(name: str, row: int, value) -> Callable[[pa.Table], pa.Table]:
    def change(table: pa.Table) -> pa.Table:
        values = table.column(name).to_pylist()
        values[row] = value
        return table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.schema.field(name).type))
    return change


def null_in(name: str, row: int = 0) -> Callable[[pa.Table], pa.Table]:
    return set_value(name, row, None)


# Each damage a store can come with, and the words its one-line refusal must hold (besides the file's path).
STORE_DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "page header flipped": (lambda p: flip_page_header(p, "caption"), "Couldn't deserialize thrift"),
    "page data flipped": (lambda p: flip_page_data(p, "caption"), "CRC checksum verification failed"),
    "truncated": (truncate, "magic bytes not found"),
    "caption column dropped": (lambda p: rewrite(p, drop_column("caption")), "no column 'caption'"),
    "shard stored as text": (lambda p: rewrite(p, retype_column("shard", pa.string())),
                             "column 'shard' is string, expected int32"),
    "null caption": (lambda p: rewrite(p, null_in("caption", 1)), "record 'video1' has no caption (null)"),
    "label not JSON": (lambda p: rewrite(p, set_value("label", 0, "{")), "record 'video0': label is not JSON text"),
}
