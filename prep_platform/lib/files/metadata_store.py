"""The scenario metadata store: one Parquet file, columns typed from the metadata record (stages.metadata.
MetadataRecord), rows ordered by scenario, shard of work, split and clip, one row group per shard.

Why Parquet: a frame, latent or prompt step needs the records of one shard of one scenario. A row group per shard,
with min/max statistics on `scenario` and `shard`, lets a step read only its rows (and only the columns it asks
for) from a store of millions of records, so its memory follows its shard, not the dataset; the whole store is read
only by the checks that are about the whole dataset. pandas and pyarrow read it as it is.

A JSON document `{"train": [...], "validation": [...]}` (hand-made, or another tool's) is read too, whole: the
stage of a small hand-made set has no store to filter.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from prep_platform.lib.files.atomic import read_json_file, write_json_atomic

SPLITS = ("train", "validation")
STORE_SUFFIX = ".parquet"

# The columns and their Arrow types, in the record's field order. Nested values (the clip's source facts, the
# labeller's evidence) are JSON text: their keys differ by dataset and labeller, and no step filters on them.
COLUMNS: dict[str, pa.DataType] = {
    "video_id": pa.string(), "split": pa.string(), "scenario": pa.string(), "shard": pa.int32(),
    "video_path": pa.string(), "image_path": pa.string(), "latent_path": pa.string(), "caption": pa.string(),
    "original_caption": pa.string(), "prompt_variants": pa.list_(pa.string()), "source": pa.string(), "label": pa.string(),
}
JSON_COLUMNS = frozenset({"source", "label"})
# Every column may hold a null: the store keeps what it is given (a hand-edited record missing a field included), and
# the schema check (stages.metadata.metadata_schema_problems) names the record and the field, instead of a write
# failing with Arrow's message.
SCHEMA = pa.schema([pa.field(name, kind, nullable=True) for name, kind in COLUMNS.items()])


def is_store(path: Path | str) -> bool:
    return Path(path).suffix == STORE_SUFFIX


@dataclass
class ReadStats:
    """What a read touched: a step's reads are checked against its shard by the tests."""

    row_groups: int = 0
    rows: int = 0
    columns: list[str] = field(default_factory=list)


def natural_key(video_id: str) -> tuple:
    """video2 before video10."""
    digits = "".join(c for c in video_id if c.isdigit())
    return (video_id.rstrip("0123456789"), int(digits) if digits else -1, video_id)


def write_records(path: Path | str, records: Iterable[dict], *, scenario_order: list[str] | None = None) -> None:
    """The store (a `.parquet` path) or a JSON document (any other suffix), written atomically. Records are
    ordered by scenario (`scenario_order` first, then by name), shard, split and clip id."""
    path = Path(path)
    records = list(records)
    order = {name: i for i, name in enumerate(scenario_order or [])}
    records.sort(key=lambda r: (order.get(r["scenario"], len(order)), r["scenario"], r.get("shard", 0),
                                SPLITS.index(r["split"]) if r["split"] in SPLITS else len(SPLITS), natural_key(r["video_id"])))
    if not is_store(path):
        write_json_atomic(path, {split: [r for r in records if r["split"] == split] for split in SPLITS})
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp")
    os.close(fd)
    try:
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            for group in _shard_groups(records) or [[]]:  # one row group per shard of work
                writer.write_table(pa.Table.from_pylist([_row(r) for r in group], schema=SCHEMA))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _shard_groups(records: list[dict]) -> list[list[dict]]:
    groups: list[list[dict]] = []
    for record in records:
        key = (record["scenario"], record.get("shard", 0))
        if not groups or (groups[-1][0]["scenario"], groups[-1][0].get("shard", 0)) != key:
            groups.append([])
        groups[-1].append(record)
    return groups


def _row(record: dict) -> dict:
    row = {name: record.get(name) for name in COLUMNS}
    row["shard"] = int(record.get("shard", 0))
    for name in JSON_COLUMNS:
        if name in record:
            row[name] = json.dumps(record[name], ensure_ascii=False, sort_keys=True)
    return row


def _record(row: dict) -> dict:
    record = {name: value for name, value in row.items() if value is not None}  # a field the record did not have
    for name in JSON_COLUMNS & set(record):
        record[name] = json.loads(record[name])
    return record


def read_records(path: Path | str, *, scenario: str | None = None, shard: int | None = None,
                 splits: Iterable[str] | None = None, columns: list[str] | None = None,
                 stats: ReadStats | None = None) -> list[dict]:
    """The records of one scenario (and shard, and splits) with the given columns (all: None). From the store,
    only the row groups whose statistics can hold them are read."""
    splits = set(splits) if splits is not None else None
    if not is_store(path):
        document = read_json_file(path)
        records = [r for split in SPLITS for r in document.get(split, [])]
        chosen = [r for r in records if (scenario is None or r["scenario"] == scenario)
                  and (shard is None or r.get("shard", 0) == shard) and (splits is None or r["split"] in splits)]
        if stats is not None:
            stats.rows, stats.row_groups = len(records), 1
        return [{k: r[k] for k in columns if k in r} for r in chosen] if columns else chosen
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    wanted = [c for c in (columns or names) if c in names]
    needed = sorted(set(wanted) | {"scenario", "shard", "split"})
    groups = [i for i in range(file.num_row_groups) if _may_hold(file.metadata.row_group(i), names, scenario, shard)]
    if stats is not None:
        stats.row_groups, stats.rows, stats.columns = len(groups), 0, needed
    if not groups:
        return []
    table = file.read_row_groups(groups, columns=needed)
    if stats is not None:
        stats.rows = table.num_rows
    out = []
    for row in table.to_pylist():
        if (scenario is None or row["scenario"] == scenario) and (shard is None or row["shard"] == shard) \
                and (splits is None or row["split"] in splits):
            out.append(_record({k: row[k] for k in wanted}))
    return out


def _may_hold(group, names: list[str], scenario: str | None, shard: int | None) -> bool:
    def bounds(column: str):
        statistics = group.column(names.index(column)).statistics
        return (statistics.min, statistics.max) if statistics is not None and statistics.has_min_max else None

    for column, value in (("scenario", scenario), ("shard", shard)):
        if value is None:
            continue
        known = bounds(column)
        if known is not None and not known[0] <= value <= known[1]:
            return False
    return True


def read_document(path: Path | str) -> dict:
    """Every record, as the `{"train": [...], "validation": [...]}` document the whole-dataset checks take."""
    records = read_records(path)
    return {split: [r for r in records if r["split"] == split] for split in SPLITS}


def shard_column(path: Path | str) -> list[tuple[str, str, int]]:
    """(video_id, scenario, shard) of every record: three columns, whatever the size of the rest."""
    if not is_store(path):
        return [(r["video_id"], r["scenario"], int(r.get("shard", 0))) for r in read_records(path)]
    table = pq.read_table(path, columns=["video_id", "scenario", "shard"])
    return list(zip(*(table.column(name).to_pylist() for name in ("video_id", "scenario", "shard")), strict=True))
