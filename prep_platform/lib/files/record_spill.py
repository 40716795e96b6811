"""Metadata records spilled to disk while the metadata stage labels clips, then ordered into the store.

A record's split and shard are known only once every clip of its scenario is labelled (both depend on all of
them), and the store wants each shard's records together. Holding the records until then costs ~1-3 KB a clip (3 GB
for a million Panda-70M clips), so the stage writes each labelled chunk to its scenario's spill file here, keeps
only the split and shard of each clip (5 bytes), and then writes the store a bucket of shards at a time: memory
follows the chunk and the bucket, not the dataset.

A spill lives in its own folder under the data root's cache (`cache/metadata-build/<host>-<pid>-<random>/`) and is
removed when the build is released; the folders of builds of this host that died are removed by the next one.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prep_platform.lib.files.metadata_store import SCHEMA, SPLITS, shard_order_key
from prep_platform.lib.layout import SpillFolder, spill_folder_prefix, spill_folders_of_host

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
