"""A source clip's bytes and what is known of them: where they are (a file, or a member of a webdataset tar read in
place), their identity (size, mtime, sha256: the one source-identity rule every stage's currency check compares),
and the clip manifest a download writes (one row per selected clip with what probing found).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

from prep_platform.lib.currency import unchanged_since
from prep_platform.lib.files.atomic import remove_stale_temp_files, write_text_atomic
from prep_platform.lib.statuses import OK, status_counts

# --- clip_source ---------------------------------------------------------------------------------------------------
# Where a clip's bytes are: a file, or a member of a webdataset tar read in place.
#
# The Panda-70M downloader (video2dataset) often writes `webdataset` shards: `00000.tar` holding `<key>.mp4`,
# `<key>.txt` and `<key>.json`. Such a clip is named `<tar path>::<member name>` everywhere a path is kept (manifests,
# metadata, latent headers), and opened here as a read-only, seekable view of the member's bytes inside the tar:
# nothing is extracted, and a member is read only when its clip is probed or decoded.
#
# A tar is indexed once per process (member -> offset, size), again only when the tar's size or mtime changed (a
# shard still being written grows). A truncated tar keeps the members whose bytes are all there; a member cut short
# is listed with the bytes it lacks, so its clip gets a status and a reason, never the run an exception.

MEMBER_SEPARATOR = "::"


def member_path(tar: Path | str, member: str) -> str:
    """The name of a tar member as a clip path: `<tar>::<member>`."""
    return f"{tar}{MEMBER_SEPARATOR}{member}"


def split_member(path: Path | str) -> tuple[Path, str] | None:
    """(tar, member) of a `<tar>::<member>` path; None for a plain file."""
    text = str(path)
    if MEMBER_SEPARATOR not in text:
        return None
    tar, _, member = text.partition(MEMBER_SEPARATOR)
    return Path(tar), member


@dataclass(frozen=True)
class TarMember:
    name: str
    offset: int  # of the member's data in the tar
    size: int  # bytes the header declares
    missing: int = 0  # bytes the tar ends before (a truncated tar); 0 when whole


@dataclass(frozen=True)
class TarIndex:
    members: dict[str, TarMember]
    problem: str = ""  # why reading the headers stopped early ("" when the tar was read to its end)


def not_a_file_reason(path: Path | str) -> str:
    """Why `path` must not be opened as a clip or a tar: it is a device, a FIFO, a folder or a socket (opening a FIFO
    blocks until someone writes; /dev/zero never ends, and reports a size of 0). "" for a regular file (a symbolic
    link to one included) or a path that is not there (that is said where it is opened). Only stat: never blocks."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return ""
    if stat.S_ISREG(mode):
        return ""
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"{path}: {kind}, not a regular file: refused without opening it"


class NotARegularFile(OSError):
    """A clip or tar path that names a device, a FIFO, a folder or a socket: refused before it is opened."""


def _refuse_unless_regular(path: Path | str) -> None:
    reason = not_a_file_reason(path)
    if reason:
        raise NotARegularFile(reason)


def index_tar(tar: Path | str) -> TarIndex:
    """Every regular member of the tar with its data offset and size. Never raises for a bad tar: a truncated or
    corrupt one gives the members read before the damage, and the problem (a tar that is not a regular file gives
    none, unopened)."""
    reason = not_a_file_reason(tar)
    if reason:
        return TarIndex({}, reason)
    info = os.stat(tar)
    return _index(str(tar), info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=64)
def _index(tar: str, size: int, mtime_ns: int) -> TarIndex:  # size and mtime: a grown tar is indexed again
    members: dict[str, TarMember] = {}
    problem = ""
    try:
        with tarfile.open(tar, mode="r:") as archive:
            while True:
                try:
                    info = archive.next()
                except tarfile.TarError as exc:  # a damaged header: what came before stays
                    problem = f"{tar}: tar headers unreadable after {len(members)} members: {exc}"
                    break
                if info is None:
                    break
                if info.isfile():
                    missing = max(0, info.offset_data + info.size - size)
                    members[info.name] = TarMember(info.name, info.offset_data, info.size, missing)
    except (tarfile.TarError, OSError) as exc:
        problem = f"{tar}: not a readable tar: {exc}"
    return TarIndex(members, problem)


class _MemberReader(io.RawIOBase):
    """Read-only, seekable bytes [offset, offset + size) of a file."""

    def __init__(self, path: Path, offset: int, size: int):
        self._file = open(path, "rb")
        self._offset, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        left = self._size - self._pos
        if left <= 0:
            return 0
        self._file.seek(self._offset + self._pos)
        view = memoryview(buffer)[:min(len(buffer), left)]
        count = self._file.readinto(view)
        self._pos += count or 0
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()


class MemberProblem(OSError):
    """A tar member that cannot be read whole (absent, or cut short by a truncated tar)."""


def _member(path: Path | str) -> tuple[Path, TarMember]:
    tar, name = split_member(path)
    index = index_tar(tar)
    member = index.members.get(name)
    if member is None:
        raise MemberProblem(f"{path}: no member {name!r} in {tar}" + (f" ({index.problem})" if index.problem else ""))
    if member.missing:
        raise MemberProblem(f"{path}: the tar ends {member.missing} bytes before this member does (truncated shard)")
    return tar, member


def open_clip(path: Path | str) -> io.BufferedReader:
    """The clip's bytes, read-only and seekable (a file, or a tar member in place). OSError when unreadable,
    NotARegularFile (before any open) when the file or the tar is a device, a FIFO or a folder."""
    if split_member(path) is None:
        _refuse_unless_regular(path)
        return open(path, "rb")
    _refuse_unless_regular(split_member(path)[0])
    tar, member = _member(path)
    return io.BufferedReader(_MemberReader(tar, member.offset, member.size))


def read_member_bytes(path: Path | str) -> bytes:
    with open_clip(path) as handle:
        return handle.read()


def clip_exists(path: Path | str) -> bool:
    if split_member(path) is None:
        return Path(path).exists()
    try:
        _member(path)
        return True
    except OSError:
        return False


def clip_size(path: Path | str) -> int:
    if split_member(path) is None:
        return os.stat(path).st_size
    return _member(path)[1].size


def clip_stat(path: Path | str) -> dict:
    """{source_bytes, source_mtime_ns}: the file's, or the member's size with its tar's mtime (a tar that grew
    or was rewritten has a new mtime, and the member's content hash is checked again)."""
    if split_member(path) is None:
        stat = os.stat(path)
        return {"source_bytes": stat.st_size, "source_mtime_ns": stat.st_mtime_ns}
    tar, member = _member(path)
    return {"source_bytes": member.size, "source_mtime_ns": os.stat(tar).st_mtime_ns}


# --- fingerprints --------------------------------------------------------------------------------------------------
# Content hashes of files: cache fingerprints, input hashes in reports, data versions.

def _update(digest, path: Path | str) -> None:
    with open_clip(path) as handle:  # a file, or a clip inside a webdataset tar (above)
        while chunk := handle.read(1 << 20):
            digest.update(chunk)


def file_fingerprint(path: Path | str) -> str:
    """sha256 of the content: survives copies and touches, changes when the bytes do."""
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()


def content_fingerprint(*paths: Path | str) -> str:
    """One short hash over several files, in order (a data version)."""
    digest = hashlib.sha256()
    for path in paths:
        _update(digest, path)
    return digest.hexdigest()[:24]


def source_stat(path: Path | str) -> dict:
    """The cheap identity of a file, recorded beside its content hash: {source_bytes, source_mtime_ns}."""
    return clip_stat(path)


def source_identity(path: Path | str, recorded: Mapping | None = None) -> dict:
    """{source_bytes, source_mtime_ns, source_fingerprint} of `path` now: the one rule for a source's identity, which
    every stage's currency check compares (lib.currency). The sha256 `recorded` holds (a frame row, a manifest row) is
    reused while the size and mtime it was recorded with hold (lib.currency.unchanged_since: a clip touched but not
    changed is hashed once, then trusted by its new mtime); otherwise, or with no record, the file is hashed again.
    OSError when it cannot be read."""
    now = source_stat(path)  # before the hash: a file changed while it is hashed has another stat next time
    fingerprint = (recorded or {}).get("source_fingerprint")
    if not (fingerprint and unchanged_since(recorded, now)):
        fingerprint = file_fingerprint(path)
    return {**now, "source_fingerprint": fingerprint}


# --- clip_manifest -------------------------------------------------------------------------------------------------
# The clip manifest: one row per selected clip with what probing found, written as CSV.

@dataclass
class ManifestRow:
    video_id: str
    path: str
    bytes: int | None
    fps: float | None
    frame_count: int | None
    width: int | None
    height: int | None
    duration_s: float | None
    status: str
    error: str
    category: int
    source_split: str


MANIFEST_COLUMNS: list[str] = [f.name for f in fields(ManifestRow)]
_INT_COLUMNS = {"bytes", "frame_count", "width", "height", "category"}
_FLOAT_COLUMNS = {"fps", "duration_s"}


def write_manifest(path: Path | str, rows: Iterable[ManifestRow]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    remove_stale_temp_files(Path(path).parent)  # what a killed write of this or another source file left
    write_text_atomic(path, buffer.getvalue())


class ManifestError(ValueError):
    """The manifest file is missing or malformed."""


def read_manifest(path: Path | str) -> list[ManifestRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the clip manifest: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ManifestError(f"{path}: manifest lacks columns {sorted(missing)}")
    rows = []
    for line_number, raw in enumerate(reader, start=2):
        try:
            values = {}
            for name in MANIFEST_COLUMNS:
                value = raw[name]
                if name in _INT_COLUMNS:
                    values[name] = int(value) if value != "" else None
                elif name in _FLOAT_COLUMNS:
                    values[name] = float(value) if value != "" else None
                else:
                    values[name] = value
            rows.append(ManifestRow(**values))
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{path}: line {line_number}: {exc}") from exc
    return rows


def manifest_status_counts(rows: Iterable[ManifestRow]) -> dict[str, int]:
    return status_counts(row.status for row in rows)


def manifest_file_problems(rows: Iterable[ManifestRow]) -> list[str]:
    """Rows with status ok whose file is gone or has another size than recorded."""
    problems = []
    for row in rows:
        if row.status != OK:
            continue
        file = Path(row.path)
        if not file.exists():
            problems.append(f"{row.video_id}: {file} does not exist")
        elif file.stat().st_size != row.bytes:
            problems.append(f"{row.video_id}: {file} has {file.stat().st_size} bytes, manifest records {row.bytes}")
    return problems
