"""The rows of a stage's manifest as Parquet, typed by a row class; the manifest's JSON is a view beside them.

Each kind of manifest row (a frame window, a latent cache, a prompt variant, a training-index sample) is a
dataclass: its fields, with their types, are the Parquet columns (scalars as Arrow scalars, lists and mappings as
JSON text) and the Dagster table schema (defs derive it from the same class). A stage still builds its rows as
dicts; the row class is the contract at the file, so a column cannot drift from what the readers expect.

A round trip is exact: a key a row did not have stays absent (a bit mask of the keys present) and a key no row class
names is kept in an `extra` JSON column. A value of another type than its field's is refused at the file
(RowTypeError, one line naming the row class, the column and the row): a column means one thing in every row.

The pair of files: `<name>.parquet` holds the rows, `<name>.json` (written after it) the header a person reads
(counts, settings, how long, a few sample rows) with the number of rows and the rows file's name. The JSON is the
marker that the manifest is whole: a reader takes the rows only when their count is the one the JSON states.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field, fields, is_dataclass
from pathlib import Path
from typing import Self

import pyarrow as pa
import pyarrow.parquet as pq

from prep_platform.lib.files.atomic import atomic_path, read_json_if_present, remove_stale_temp_files, write_json_atomic
from prep_platform.lib.layout import manifest_rows_path

EXTRA, PRESENT = "extra", "keys_present"
ROW_NAMES = ("sample_id", "video_id", "prompt_sha256", "stem")  # what names a row in a refusal, the first it has


class RowTypeError(ValueError):
    """A row's value of another type than its column's: one line naming the row class, the column and the row."""
SAMPLE_ROWS = 3  # rows shown in the JSON view
_SCALARS = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _arrow_type(hint) -> pa.DataType | None:
    """The column type of a field's type hint (`X` or `X | None`); None: JSON text (lists, mappings, the rest)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    else:
        options = [hint]
    return _SCALARS.get(options[0]) if len(options) == 1 else None


def _json_types(hint) -> tuple[type, ...] | None:
    """What a JSON column may hold (list, dict, ...) by its hint; None when the hint allows anything."""
    options = [arg for arg in typing.get_args(hint) if arg is not type(None)] \
        if typing.get_origin(hint) in (typing.Union, types.UnionType) else [hint]
    allowed = []
    for option in options:
        origin = typing.get_origin(option) or option
        if origin in (list, tuple):
            allowed += [list, tuple]
        elif origin in (dict,) or origin is typing.Mapping:
            allowed.append(dict)
        elif origin in _SCALARS:
            allowed.append(origin)
        else:
            return None  # Any or a class of its own: not checked here
    return tuple(allowed)


def _wrong_type(row_type: type, name: str, kind, rows: list[dict], index: int) -> RowTypeError:
    row, value = rows[index], rows[index][name]
    which = next((f"{key} {row[key]}" for key in ROW_NAMES if row.get(key) is not None), f"row {index}")
    wanted = {pa.string(): "a string", pa.int64(): "an integer", pa.float64(): "a number", pa.bool_(): "a bool"}.get(
        kind, " or ".join(sorted({t.__name__ for t in kind})) if isinstance(kind, tuple) else str(kind))
    return RowTypeError(f"{row_type.__name__} column {name!r} must hold {wanted}: {which} has {value!r} "
                        f"({type(value).__name__})")


def _fits(value, kind) -> bool:
    """`value` can be stored in a column of `kind` as what it is (None always: a missing value)."""
    if value is None:
        return True
    if kind == pa.string():
        return isinstance(value, str)
    if kind == pa.bool_():
        return isinstance(value, bool)
    if kind == pa.int64():
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == pa.float64():
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def columns_of(row_type: type) -> dict[str, pa.DataType | None]:
    """field name -> Arrow type (None: JSON text), in the row class's order."""
    if not is_dataclass(row_type):
        raise TypeError(f"{row_type!r} is not a dataclass")
    hints = typing.get_type_hints(row_type)
    names = [f.name for f in fields(row_type)]
    if len(names) > 63:
        raise ValueError(f"{row_type.__name__}: at most 63 fields fit the keys-present mask")
    return {name: _arrow_type(hints[name]) for name in names}


def row_schema(row_type: type) -> pa.Schema:
    return pa.schema([pa.field(name, kind or pa.string()) for name, kind in columns_of(row_type).items()]
                     + [pa.field(EXTRA, pa.string()), pa.field(PRESENT, pa.int64())])


def column(doc: str):
    """A row class's field: no default needed (rows are dicts; the class is their contract) and what it holds."""
    return field(default=None, metadata={"doc": doc})


def column_descriptions(row_type: type) -> list[tuple[str, str, str]]:
    """(name, type, description) of each column: what a Dagster TableSchema is made of."""
    docs = {f.name: f.metadata.get("doc", "") for f in fields(row_type)}
    names = {pa.string(): "string", pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}
    return [(name, "json" if kind is None else names[kind], docs[name]) for name, kind in columns_of(row_type).items()]


def rows_table(rows: list[dict], row_type: type) -> pa.Table:
    """The rows as a table of the row class's columns; a value of another type than its column's is refused
    (RowTypeError naming the column and the row), never stored elsewhere or as something else."""
    columns = columns_of(row_type)
    hints = typing.get_type_hints(row_type)
    names = list(columns)
    extras: list[dict] = [{k: v for k, v in row.items() if k not in columns} for row in rows]
    masks = [sum(1 << i for i, name in enumerate(names) if name in row) for row in rows]
    arrays = []
    for name, kind in columns.items():
        values = [row.get(name) for row in rows]
        if kind is None:
            allowed = _json_types(hints[name])
            if allowed is not None:
                wrong = next((i for i, v in enumerate(values) if v is not None and not isinstance(v, allowed)), None)
                if wrong is not None:
                    raise _wrong_type(row_type, name, allowed, rows, wrong)
            arrays.append(pa.array([None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)
                                    for v in values], pa.string()))
            continue
        wrong = next((i for i, v in enumerate(values) if not _fits(v, kind)), None)
        if wrong is not None:
            raise _wrong_type(row_type, name, kind, rows, wrong)
        try:
            arrays.append(pa.array(values, kind))
        except OverflowError:  # an integer beyond 64 bits
            raise _wrong_type(row_type, name, kind, rows, next(i for i, v in enumerate(values)
                                                               if isinstance(v, int) and abs(v) >= 2**63)) from None
    arrays.append(pa.array([json.dumps(e, ensure_ascii=False, sort_keys=True) if e else None for e in extras], pa.string()))
    arrays.append(pa.array(masks, pa.int64()))
    return pa.Table.from_arrays(arrays, schema=row_schema(row_type))


def table_rows(table: pa.Table, row_type: type) -> list[dict]:
    columns = columns_of(row_type)
    names = list(columns)
    out = []
    for record in table.to_pylist():
        mask = record.get(PRESENT) or 0
        row = {}
        for i, name in enumerate(names):
            if mask >> i & 1:
                value = record.get(name)
                row[name] = json.loads(value) if columns[name] is None and value is not None else value
        if record.get(EXTRA):
            row.update(json.loads(record[EXTRA]))
        out.append(row)
    return out


def write_rows(path: Path | str, rows: list[dict], row_type: type) -> None:
    """The rows as one Parquet file, written atomically (a failure names the file: Arrow's message does not)."""
    # A manifest's folder is locked by no stage (only the per-sample folders are): the temp files a killed write of
    # a manifest or an index left are removed here, by the next write into that folder.
    remove_stale_temp_files(Path(path).parent)
    with atomic_path(path) as tmp:
        pq.write_table(rows_table(rows, row_type), tmp, **WRITE_OPTIONS)


def read_rows(path: Path | str, row_type: type) -> list[dict]:
    """The rows of a file write_rows wrote. A damaged or truncated file, a column of the row class missing or of
    another type is ParquetFileError naming the file (and the column), never a KeyError or wrong values later."""
    what = f"table of {row_type.__name__}s"
    file = open_parquet(path, what)
    schema = row_schema(row_type)
    problem = column_problem(file.schema_arrow, {f.name: f.type for f in schema}, schema.names)
    if problem:
        raise ParquetFileError(f"{path}: not a {what}: {problem}")
    with reading(path, what):
        table = file.read()
    try:
        return table_rows(table, row_type)
    except (ValueError, TypeError) as exc:  # a JSON column edited into something that is not JSON
        raise ParquetFileError(f"{path}: not a {what}: {exc}") from exc


def rows_path(view: Path | str) -> Path:
    """`frames_manifest.parquet` beside `frames_manifest.json` (the layout's manifest_rows_path)."""
    return manifest_rows_path(view)


def write_manifest(view: Path | str, header: dict, key: str, rows: list[dict], row_type: type) -> None:
    """The rows (Parquet), then the JSON view: the header, the number of rows, a few of them."""
    write_rows(rows_path(view), rows, row_type)
    write_json_atomic(view, {**header, "rows_file": rows_path(view).name, "rows": len(rows),
                             f"sample_{key}": rows[:SAMPLE_ROWS]})


def read_manifest(view: Path | str, key: str, row_type: type) -> dict | None:
    """The header with its rows under `key`, or None when the manifest is not there or not whole (the rows file is
    missing or holds another number of rows than the view says: a run stopped between the two writes). A rows file
    that is there but damaged is no such state (both files are written atomically): ParquetFileError naming it."""
    header = read_json_if_present(view)
    if header is None:
        return None
    try:
        rows = read_rows(rows_path(view), row_type)
    except FileNotFoundError:
        return None
    except ParquetFileError as exc:
        raise ParquetFileError(f"{exc}; remove it and {Path(view).name} to have its stage write them again") from exc
    if len(rows) != header.get("rows"):
        return None
    header = {k: v for k, v in header.items() if k not in ("rows_file", "rows", f"sample_{key}")}
    return {**header, key: rows}


# --- json_header ---------------------------------------------------------------------------------------------------
# The self-description a cache file carries: a frozen dataclass stored as one flat JSON object. Keys this version
# does not know are kept (in `extra`) and written back; an unknown (None) field is left out, as it reads back.

class JsonHeader:
    """Base of the header dataclasses (each declares `extra: dict` last)."""

    extra: dict

    @classmethod
    def from_json(cls, values: Mapping) -> Self:
        if not isinstance(values, Mapping):
            raise ValueError(f"a {cls.__name__} is a JSON object, not {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in values.items() if k in known},
                   extra={k: v for k, v in values.items() if k not in known})

    def to_json(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **{k: v for k, v in values.items() if v is not None}}


# --- parquet_read --------------------------------------------------------------------------------------------------
# Reading a Parquet file that a person, another tool or a failing disk may have made: every way it cannot be read is
# one ValueError naming the file (Arrow's messages do not, and a damaged page is an OSError spread over two lines),
# and its columns are checked against what the reader expects before a row is read (a missing or retyped column would
# otherwise surface far from the file, as a KeyError or a TypeError inside a stage).

class ParquetFileError(ValueError):
    """A Parquet input that cannot be used as it is: damaged, truncated, not Parquet, a column missing or of another
    type, a required value null. The message names the file (and the column, the record)."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def reading(path: Path | str, what: str) -> Iterator[None]:
    """Errors of the Parquet reads inside the block as ParquetFileError naming `path` (`what`: the kind of file, for
    the message). The cause is kept: a read failed by the disk (EIO) still reads as the machine's fault to the CLIs."""
    try:
        yield
    except (FileNotFoundError, MemoryError):
        raise  # "not found" and "out of memory" say it better as they are
    except (OSError, pa.ArrowException) as exc:
        raise ParquetFileError(f"{path}: not a readable {what} ({_one_line(exc)})") from exc


# Our writers store a CRC of every page and our readers check it (a file without them is read as it is): a flipped
# byte inside a page is then refused as damage instead of read as other values or failing in Arrow's words.
WRITE_OPTIONS = {"compression": "zstd", "write_page_checksum": True}


def open_parquet(path: Path | str, what: str) -> pq.ParquetFile:
    """The file, its footer read (a truncated file or one that is not Parquet is refused here); its pages' CRCs are
    checked as they are read."""
    with reading(path, what):
        return pq.ParquetFile(path, page_checksum_verification=True)


def same_kind(found: pa.DataType, expected: pa.DataType) -> bool:
    """Whether a column of type `found` holds what a reader of `expected` takes, as Python values: any integer for an
    integer, either string width for a string, a list of those for a list (whatever its item field is named: pandas
    and Spark say `element`), and an all-null column for anything (each null is then judged as a value)."""
    if found == expected or pa.types.is_null(found):
        return True
    if pa.types.is_integer(expected):
        return pa.types.is_integer(found)
    if pa.types.is_floating(expected):
        return pa.types.is_floating(found) or pa.types.is_integer(found)
    if pa.types.is_string(expected) or pa.types.is_large_string(expected):
        return pa.types.is_string(found) or pa.types.is_large_string(found)
    if pa.types.is_list(expected) or pa.types.is_large_list(expected):
        return (pa.types.is_list(found) or pa.types.is_large_list(found)) and same_kind(found.value_type, expected.value_type)
    return False


def column_problem(schema: pa.Schema, expected: Mapping[str, pa.DataType], required: Iterable[str]) -> str:
    """The first column of `expected` that is missing (when `required`) or of another kind, said in a few words;
    "" when the columns are what the reader takes. Columns nobody expects are not a problem."""
    names = set(schema.names)
    for name in required:
        if name not in names:
            return f"no column {name!r}"
    for name, kind in expected.items():
        if name in names and not same_kind(schema.field(name).type, kind):
            return f"column {name!r} is {schema.field(name).type}, expected {kind}"
    return ""
