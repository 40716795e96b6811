"""Reading a Parquet file that a person, another tool or a failing disk may have made: every way it cannot be read is
one ValueError naming the file (Arrow's messages do not, and a damaged page is an OSError spread over two lines),
and its columns are checked against what the reader expects before a row is read (a missing or retyped column would
otherwise surface far from the file, as a KeyError or a TypeError inside a stage)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


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
