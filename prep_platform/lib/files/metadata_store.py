"""The scenario metadata store: one Parquet file, columns typed from the metadata record (stages.metadata.
MetadataRecord), rows ordered by scenario, shard of work, split and clip, one row group per shard.

Why Parquet: a frame, latent or prompt step needs the records of one shard of one scenario. A row group per shard,
with min/max statistics on `scenario` and `shard`, lets a step read only its rows (and only the columns it asks
for) from a store of millions of records, so its memory follows its shard, not the dataset; the whole store is read
only by the checks that are about the whole dataset. pandas and pyarrow read it as it is.

Beside the store lies its JSON view (`scenario_metadata.json`, stages.metadata): the seed's record schema for
people and `jq`. Given as `--metadata`, the view stands for its store (`resolve_metadata_input`): a tool reads the
same records from either. A JSON document `{"train": [...], "validation": [...]}` that is no view (hand-made, or
another tool's) is read too, whole: the stage of a small hand-made set has no store to filter.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prep_platform.lib.files.atomic import atomic_path, read_json_file, remove_stale_temp_files, write_json_atomic
from prep_platform.lib.files.row_table import WRITE_OPTIONS, ParquetFileError, column_problem, open_parquet, reading
from prep_platform.lib.layout import (
    SpillFolder,
    metadata_store_path,
    spill_folder_prefix,
    spill_folders_of_host,
    view_store_path,
)

SPLITS = ("train", "validation")
STORE_SUFFIX = ".parquet"

# The columns and their Arrow types, in the record's field order. Nested values (the clip's source facts, the
# labeller's evidence) are JSON text: their keys differ by dataset and labeller, and no step filters on them.
COLUMNS: dict[str, pa.DataType] = {
    "video_id": pa.string(), "split": pa.string(), "scenario": pa.string(), "shard": pa.int32(),
    "video_path": pa.string(), "caption": pa.string(),
    "original_caption": pa.string(), "prompt_variants": pa.list_(pa.string()), "source": pa.string(), "label": pa.string(),
}
JSON_COLUMNS = frozenset({"source", "label"})
# Every column may hold a null: the store keeps what it is given (a hand-edited record missing a field included), and
# the schema check (stages.metadata.metadata_schema_problems) names the record and the field, instead of a write
# failing with Arrow's message.
SCHEMA = pa.schema([pa.field(name, kind, nullable=True) for name, kind in COLUMNS.items()])
# A store is refused on open without one of these columns (the record's required fields); a stage reading its records
# refuses a null in those it keys on or hands on (video_id, caption...), naming the record, where a KeyError or a
# TypeError deep inside the stage would name neither the file nor the clip. The whole-dataset schema check reads
# the records without that refusal: it lists every bad record instead of stopping at the first.
REQUIRED_COLUMNS = tuple(name for name in COLUMNS if name != "original_caption")
NOT_NULL = ("video_id", "split", "scenario", "shard", "video_path", "caption", "prompt_variants")
STORE_KIND = "scenario metadata store"  # how a refusal names the file


VIEW_KIND = "prep_platform scenario metadata view"  # what marks a JSON file as a store's view, not a document


def is_store(path: Path | str) -> bool:
    return Path(path).suffix == STORE_SUFFIX


class MetadataInputError(ValueError):
    """A metadata file a tool was given that it cannot read records from (one line naming it, exit 2)."""


def store_for_output(path: Path | str) -> Path:
    """Where a metadata build asked to write `path` puts the store: the path itself (`.parquet`), or the store
    beside the view it names (`scenario_metadata.json` -> `scenario_metadata.parquet`: the seed's command names the
    JSON, and every later tool reads the store)."""
    path = Path(path)
    if path.suffix == STORE_SUFFIX:
        return path
    if path.suffix == ".json":
        return metadata_store_path(path)
    raise MetadataInputError(f"{path}: the metadata output must end in .parquet (the store) or .json (its view, "
                             f"with the store beside it)")


def view_store(path: Path | str, document: object) -> Path | None:
    """The store a JSON view stands for (beside it, by the name it records); None when `document` is no view."""
    if not (isinstance(document, dict) and document.get("kind") == VIEW_KIND and isinstance(document.get("store"), str)):
        return None
    return view_store_path(path, document["store"])


def resolve_metadata_input(path: Path | str) -> Path:
    """The file a tool reads records from when given `path`: a store as it is, a view's store, or a JSON
    `{train, validation}` document as it is. Anything else, or a path that is not there, is refused naming it."""
    path = Path(path)
    if not path.exists():
        raise MetadataInputError(f"{path}: not found (the scenario metadata: build it with build_scenario_metadata)")
    if not path.is_file():
        raise MetadataInputError(f"{path}: not a file (give the metadata store .parquet or its .json view)")
    if is_store(path):
        return path
    try:
        document = read_json_file(path)
    except ValueError as exc:
        raise MetadataInputError(f"{exc} (give the metadata store .parquet, its .json view, or a JSON "
                                 f"{{train, validation}} document)") from None
    store = view_store(path, document)
    if store is not None:
        if not store.is_file():
            raise MetadataInputError(f"{path}: a view of the store {store}, which is not found (rebuild the metadata "
                                     f"with build_scenario_metadata)")
        return store
    if not (isinstance(document, dict) and set(document) & set(SPLITS)
            and all(isinstance(document.get(split, []), list) for split in SPLITS)):
        raise MetadataInputError(f"{path}: neither a scenario metadata store, its view, nor a JSON {{train, "
                                 f"validation}} document")
    return path


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


def shard_order_key(shard: int, split: str, video_id: str) -> tuple:
    """Where a record sits inside its scenario in the store: by shard, split (train first) and clip id."""
    return (shard, SPLITS.index(split) if split in SPLITS else len(SPLITS), natural_key(video_id))


def write_records(path: Path | str, records: Iterable[dict], *, scenario_order: list[str] | None = None) -> None:
    """The store (a `.parquet` path) or a JSON document (any other suffix), written atomically. Records are
    ordered by scenario (`scenario_order` first, then by name), shard, split and clip id."""
    path = Path(path)
    records = list(records)
    order = {name: i for i, name in enumerate(scenario_order or [])}
    records.sort(key=lambda r: (order.get(r["scenario"], len(order)), r["scenario"],
                                *shard_order_key(r.get("shard", 0), r["split"], r["video_id"])))
    if not is_store(path):
        write_json_atomic(path, {split: [r for r in records if r["split"] == split] for split in SPLITS})
        return
    write_store(path, (pa.Table.from_pylist([store_row(r) for r in group], schema=SCHEMA) for group in _shard_groups(records)))


def write_store(path: Path | str, shard_tables: Iterable[pa.Table]) -> int:
    """The store from tables of rows (SCHEMA) already in store order, one per shard: each becomes one row group.
    Atomic: the file appears whole or not at all. Returns the number of records."""
    written = 0
    remove_stale_temp_files(Path(path).parent)  # a killed build's temp store (and view, report) beside it
    with atomic_path(path) as tmp:  # a failure names the file (Arrow's message does not)
        with pq.ParquetWriter(tmp, SCHEMA, **WRITE_OPTIONS) as writer:
            for table in shard_tables:
                writer.write_table(table, row_group_size=max(1, table.num_rows))
                written += table.num_rows
            if not written:
                writer.write_table(SCHEMA.empty_table())
    return written


def _shard_groups(records: list[dict]) -> list[list[dict]]:
    groups: list[list[dict]] = []
    for record in records:
        key = (record["scenario"], record.get("shard", 0))
        if not groups or (groups[-1][0]["scenario"], groups[-1][0].get("shard", 0)) != key:
            groups.append([])
        groups[-1].append(record)
    return groups


def store_row(record: dict) -> dict:
    """A record as a row of the store (nested values as JSON text)."""
    row = {name: record.get(name) for name in COLUMNS}
    row["shard"] = int(record.get("shard", 0))
    for name in JSON_COLUMNS:
        if name in record:
            row[name] = json.dumps(record[name], ensure_ascii=False, sort_keys=True)
    return row


def record_from_row(row: dict) -> dict:
    """A row of the store as the record it holds (a null is a field the record did not have)."""
    record = {name: value for name, value in row.items() if value is not None}
    for name in JSON_COLUMNS & set(record):
        try:
            record[name] = json.loads(record[name])
        except json.JSONDecodeError as exc:  # a hand edit: which field, not only where in it
            raise ValueError(f"{name} is not JSON text ({exc.msg})") from None
    return record


def read_records(path: Path | str, *, scenario: str | None = None, shard: int | None = None,
                 splits: Iterable[str] | None = None, columns: list[str] | None = None,
                 stats: ReadStats | None = None, check_values: bool = True) -> list[dict]:
    """The records of one scenario (and shard, and splits) with the given columns (all: None). From the store,
    only the row groups whose statistics can hold them are read, and a null among their required values is refused
    (ParquetFileError naming the record; `check_values=False`: kept, for the checks that list them)."""
    splits = set(splits) if splits is not None else None
    if not is_store(path):
        document = read_json_file(path)
        store = view_store(path, document)
        if store is not None:  # a view holds some records; its store holds them all
            return read_records(resolve_metadata_input(path), scenario=scenario, shard=shard, splits=splits,
                                columns=columns, stats=stats, check_values=check_values)
        if check_values:
            _refuse_bad_document_records(path, document)
        records = [r for split in SPLITS for r in document.get(split, [])]
        chosen = [r for r in records if (scenario is None or r["scenario"] == scenario)
                  and (shard is None or r.get("shard", 0) == shard) and (splits is None or r["split"] in splits)]
        if stats is not None:
            stats.rows, stats.row_groups = len(records), 1
        return [{k: r[k] for k in columns if k in r} for r in chosen] if columns else chosen
    file = open_store(path)
    names = file.schema_arrow.names
    wanted = [c for c in (columns or names) if c in names]
    needed = sorted(set(wanted) | {"scenario", "shard", "split"})
    groups = [i for i in range(file.num_row_groups) if _may_hold(file.metadata.row_group(i), names, scenario, shard)]
    if stats is not None:
        stats.row_groups, stats.rows, stats.columns = len(groups), 0, needed
    if not groups:
        return []
    with reading(path, STORE_KIND):  # a damaged page shows only now
        table = file.read_row_groups(groups, columns=needed)
    if check_values:
        _refuse_nulls(path, table, file, groups)
    if stats is not None:
        stats.rows = table.num_rows
    out = []
    for row in table.to_pylist():
        if (scenario is None or row["scenario"] == scenario) and (shard is None or row["shard"] == shard) \
                and (splits is None or row["split"] in splits):
            try:
                out.append(record_from_row({k: row[k] for k in wanted}))
            except ValueError as exc:
                raise ParquetFileError(f"{path}: record {row.get('video_id')!r}: {exc}") from exc
    return out


def _refuse_bad_document_records(path: Path | str, document: object) -> None:
    """A JSON document's records as a stage needs them: each a mapping with every NOT_NULL field set (`shard` may
    be left out: a hand-made set is one shard). The first that is not is refused naming the file and the record,
    where a KeyError deep inside a stage would name neither."""
    if not isinstance(document, dict):
        raise MetadataInputError(f"{path}: not a {{train, validation}} document")
    for split in SPLITS:
        records = document.get(split, [])
        if not isinstance(records, list):
            raise MetadataInputError(f"{path}: {split!r} is not a list of records")
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise MetadataInputError(f"{path}: {split}[{i}] is not a record (a JSON object)")
            missing = [name for name in NOT_NULL if name != "shard" and record.get(name) is None]
            if missing:
                raise MetadataInputError(f"{path}: {split}[{i}] ({record.get('video_id')!r}): no {missing[0]!r}")


def open_store(path: Path | str) -> pq.ParquetFile:
    """The store with its footer read and its columns checked against SCHEMA: a damaged, truncated or foreign file,
    a missing column or one of another type (a `shard` stored as text) is refused here, naming the file and the
    column, before any step filters on it."""
    file = open_parquet(path, STORE_KIND)
    problem = column_problem(file.schema_arrow, COLUMNS, REQUIRED_COLUMNS)
    if problem:
        raise ParquetFileError(f"{path}: not a {STORE_KIND}: {problem}")
    return file


def _refuse_nulls(path: Path | str, table: pa.Table, file: pq.ParquetFile, groups: list[int]) -> None:
    """ParquetFileError naming the first record (its video_id, else its row in the file) with a null in a NOT_NULL
    column of `table` (the row groups `groups` of `file`, in order)."""
    for name in NOT_NULL:
        if name not in table.column_names or not table.column(name).null_count:
            continue
        column = table.column(name).combine_chunks()
        at = column.is_null().to_pylist().index(True)
        video_id = table.column("video_id")[at].as_py() if "video_id" in table.column_names else None
        if video_id is not None:
            who = f"record {video_id!r}"
        else:  # no id to name it by: its row in the file, counted over every row group
            row = at
            for group in groups:
                rows = file.metadata.row_group(group).num_rows
                if row < rows:
                    break
                row -= rows
            who = f"the record at row {sum(file.metadata.row_group(g).num_rows for g in range(group)) + row}"
        more = f" ({column.null_count} records in all)" if column.null_count > 1 else ""
        raise ParquetFileError(f"{path}: {who} has no {name} (null){more}")


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


def record_groups(path: Path | str, columns: list[str] | None = None) -> Iterator[list[dict]]:
    """Every record, a row group (a shard) at a time, with the given columns (all: None): what a check over the
    whole dataset walks, in the memory of one shard. A JSON document is one group."""
    if not is_store(path):
        records = read_records(path, columns=columns)
        if records:
            yield records
        return
    file = open_store(path)
    names = file.schema_arrow.names
    wanted = [c for c in (columns or names) if c in names]
    for i in range(file.num_row_groups):
        with reading(path, STORE_KIND):
            table = file.read_row_group(i, columns=wanted)
        yield [record_from_row(row) for row in table.to_pylist()]


def record_columns(path: Path | str, columns: list[str]) -> pa.Table:
    """The given columns of every record, as one Arrow table (a few bytes a record for short columns)."""
    if not is_store(path):
        records = read_records(path)
        return pa.table({name: pa.array([r.get(name) for r in records], SCHEMA.field(name).type) for name in columns})
    file = open_store(path)
    with reading(path, STORE_KIND):
        return file.read(columns=columns)


def read_document(path: Path | str) -> dict:
    """Every record, as the `{"train": [...], "validation": [...]}` document the whole-dataset checks take."""
    records = read_records(path, check_values=False)  # what the checks judge, record by record
    return {split: [r for r in records if r["split"] == split] for split in SPLITS}


def scenario_shard_column(path: Path | str, scenario: str) -> pa.Table:
    """`video_id` and `shard` of one scenario's records (two columns of its row groups, whatever the rest)."""
    if not is_store(path):
        rows = read_records(path, scenario=scenario, columns=["video_id", "shard"])
        return pa.table({"video_id": pa.array([r["video_id"] for r in rows], pa.string()),
                         "shard": pa.array([int(r.get("shard", 0)) for r in rows], pa.int32())})
    open_store(path)  # the columns checked (a text `shard` would fail the filter with Arrow's words)
    with reading(path, STORE_KIND):
        return pq.read_table(path, columns=["video_id", "shard"], filters=[("scenario", "==", scenario)],
                             page_checksum_verification=True)


def shards_in_store(path: Path | str) -> dict[str, set[int]]:
    """scenario -> the shards its records are in. From the store's footer where a row group holds one shard (as
    the stage writes it: no record is read), else from two columns."""
    if not is_store(path):
        found: dict[str, set[int]] = {}
        for record in read_records(path, columns=["scenario", "shard"]):
            found.setdefault(record["scenario"], set()).add(int(record.get("shard", 0)))
        return found
    file = open_store(path)
    names = file.schema_arrow.names
    found = {}
    for i in range(file.num_row_groups):
        group = file.metadata.row_group(i)
        if group.num_rows == 0:
            continue
        stats = [group.column(names.index(c)).statistics for c in ("scenario", "shard")]
        if all(s is not None and s.has_min_max and s.min == s.max and s.null_count == 0 for s in stats):
            found.setdefault(stats[0].min, set()).add(int(stats[1].min))
            continue
        with reading(path, STORE_KIND):
            table = file.read_row_group(i, columns=["scenario", "shard"])
        for scenario, shard in zip(table.column("scenario").to_pylist(), table.column("shard").to_pylist()):
            found.setdefault(scenario, set()).add(int(shard or 0))
    return found


# --- record_spill --------------------------------------------------------------------------------------------------
# Metadata records spilled to disk while the metadata stage labels clips, then ordered into the store.
#
# A record's split and shard are known only once every clip of its scenario is labelled (both depend on all of
# them), and the store wants each shard's records together. Holding the records until then costs ~1-3 KB a clip (3 GB
# for a million Panda-70M clips), so the stage writes each labelled chunk to its scenario's spill file here, keeps
# only the split and shard of each clip (5 bytes), and then writes the store a bucket of shards at a time: memory
# follows the chunk and the bucket, not the dataset.
#
# A spill lives in its own folder under the data root's cache (`cache/metadata-build/<host>-<pid>-<random>/`) and is
# removed when the build is released; the folders of builds of this host that died are removed by the next one.

ROWS_PER_BUCKET = 10_000  # records ordered in memory at once when the store is written (~10-30 MB)
ROWS_PER_GROUP = 2_000  # rows a spill or bucket file gathers before writing a row group (its footer grows per group)
_HOST = socket.gethostname().replace(os.sep, "_")[:64] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_spills(parent: Path) -> None:
    """The spill folders this host's builds left when they were killed (another host's are not ours to judge)."""
    for folder, pid in spill_folders_of_host(parent, _HOST):
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class RecordSpill:
    """Records of each scenario appended in chunks (store rows: SCHEMA, `split` and `shard` still empty)."""

    def __init__(self, parent: Path | str):
        parent = Path(parent)
        parent.mkdir(parents=True, exist_ok=True)
        remove_dead_spills(parent)
        self.folder = Path(tempfile.mkdtemp(dir=parent, prefix=spill_folder_prefix(_HOST, os.getpid())))
        self.paths = SpillFolder(self.folder)
        self._release = weakref.finalize(self, shutil.rmtree, self.folder, True)
        self._writers: dict[str, _GroupedWriter] = {}
        self._files: dict[str, Path] = {}
        self.rows: dict[str, int] = {}
        self._assignment: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, scenario: str, rows: list[dict]) -> None:
        if not rows:
            return
        if scenario not in self._writers:
            self._files[scenario] = self.paths.records(len(self._files))
            self._writers[scenario] = _GroupedWriter(self._files[scenario])
            self.rows[scenario] = 0
        self._writers[scenario].write(pa.Table.from_pylist(rows, schema=SCHEMA))
        self.rows[scenario] += len(rows)

    def finish(self) -> None:
        """Every chunk is in: close the spill files (reading them needs their footers)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    @property
    def released(self) -> bool:
        return not self._release.alive

    def release(self) -> None:
        self.finish()
        self._release()

    def _file(self, scenario: str) -> pq.ParquetFile | None:
        if self.released:
            raise RuntimeError("the build's records were released: read the metadata store it wrote")
        return pq.ParquetFile(self._files[scenario]) if scenario in self._files else None

    def video_ids(self, scenario: str) -> pa.ChunkedArray:
        """The scenario's clip ids in spill order (the order split and shard arrays follow)."""
        file = self._file(scenario)
        return file.read(columns=["video_id"]).column("video_id") if file else pa.chunked_array([], pa.string())

    def assign(self, scenario: str, shards: np.ndarray, validation: np.ndarray) -> None:
        """Each spilled record's shard and whether it is in validation, in spill order."""
        self._assignment[scenario] = (np.asarray(shards, dtype=np.int32), np.asarray(validation, dtype=bool))

    def assignment(self, scenario: str) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=bool))
        return self._assignment.get(scenario, empty)

    def shard_tables(self, scenarios: list[str], rows_per_bucket: int = ROWS_PER_BUCKET) -> Iterator[pa.Table]:
        """Every record in store order (scenario as listed, shard, split, clip id), one table per shard. A scenario
        larger than a bucket is first dealt into bucket files of whole shards, one pass over its spill."""
        for scenario in scenarios:
            file = self._file(scenario)
            if file is None:
                continue
            shards, validation = self.assignment(scenario)
            counts = np.bincount(shards)
            bucket_of_shard = _buckets(counts, rows_per_bucket)
            bucket_of_row = bucket_of_shard[shards]
            n_buckets = int(bucket_of_shard.max()) + 1 if len(bucket_of_shard) else 0
            if n_buckets <= 1:
                tables = [_with_assignment(file.read(), shards, validation)]
            else:
                tables = self._deal(scenario, file, bucket_of_row, n_buckets, shards, validation)
            for table in tables:
                yield from _ordered_shards(table)

    def _deal(self, scenario: str, file: pq.ParquetFile, bucket_of_row: np.ndarray, n_buckets: int,
              shards: np.ndarray, validation: np.ndarray) -> Iterator[pa.Table]:
        paths = [self.paths.bucket(self._files[scenario], b) for b in range(n_buckets)]
        writers = [_GroupedWriter(path) for path in paths]
        try:
            offset = 0
            for group in range(file.num_row_groups):
                table = file.read_row_group(group)
                rows = slice(offset, offset + table.num_rows)
                table = _with_assignment(table, shards[rows], validation[rows])
                buckets = bucket_of_row[rows]
                for bucket in np.unique(buckets):
                    writers[bucket].write(table.filter(pa.array(buckets == bucket)))
                offset += table.num_rows
        finally:
            for writer in writers:
                writer.close()
        for path in paths:
            table = pq.read_table(path)
            path.unlink()
            yield table


class _GroupedWriter:
    """A temporary Parquet file written in row groups of about ROWS_PER_GROUP rows, without statistics: nothing
    filters these files, and a writer keeps every row group's metadata until it closes (with many small groups of
    long strings, megabytes)."""

    def __init__(self, path: Path):
        self._writer = pq.ParquetWriter(path, SCHEMA, compression="lz4", write_statistics=False)
        self._pending: list[pa.Table] = []
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=max(1, self._rows))
        self._pending, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


def _buckets(rows_per_shard: np.ndarray, rows_per_bucket: int) -> np.ndarray:
    """Consecutive shards grouped into buckets of about `rows_per_bucket` records (a shard is never split)."""
    bucket_of_shard = np.zeros(len(rows_per_shard), dtype=np.int64)
    bucket, filled = 0, 0
    for shard, rows in enumerate(rows_per_shard.tolist()):
        if filled and filled + rows > rows_per_bucket:
            bucket, filled = bucket + 1, 0
        bucket_of_shard[shard] = bucket
        filled += rows
    return bucket_of_shard


def _with_assignment(table: pa.Table, shards: np.ndarray, validation: np.ndarray) -> pa.Table:
    split = np.where(validation, SPLITS[1], SPLITS[0])
    table = table.set_column(table.schema.get_field_index("shard"), SCHEMA.field("shard"), pa.array(shards, pa.int32()))
    return table.set_column(table.schema.get_field_index("split"), SCHEMA.field("split"), pa.array(split, pa.string()))


def _ordered_shards(table: pa.Table) -> Iterator[pa.Table]:
    """The table's records ordered by shard, split and clip id, one table per shard."""
    keys = [shard_order_key(*row) for row in zip(
        table.column("shard").to_pylist(), table.column("split").to_pylist(), table.column("video_id").to_pylist())]
    order = sorted(range(table.num_rows), key=keys.__getitem__)
    table = table.take(pa.array(order, pa.int64()))
    shard_column = np.asarray(table.column("shard").to_numpy())
    starts = np.flatnonzero(np.r_[True, shard_column[1:] != shard_column[:-1]]) if len(shard_column) else []
    for start, end in zip(starts, [*starts[1:], len(shard_column)]):
        yield table.slice(int(start), int(end - start))
