"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`, on error it is removed.

    The temporary file lives in the same folder so the final `os.replace` is a rename on one filesystem.
    """
    target = Path(target)
    with named_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        # The writer's pid in the name: a run cleaning stale temp files leaves those of live writers alone.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with named_write_errors(target):  # disk full, quota, permissions: one message that names the file
            yield tmp
            if tmp.exists():
                os.chmod(tmp, 0o644)  # mkstemp creates 0600; the result is an ordinary data file
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def named_write_errors(path: Path | str) -> Iterator[None]:
    """An OSError while writing `path` becomes a WriteError naming it; its errno stays (ENOSPC: exit 3)."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc


class WriteError(OSError):
    """A file could not be written (disk full, permissions, ...); the message names it. Nothing half-written is
    left: the target keeps its old content."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


# `.<name>.<random>.tmp`: what atomic_path leaves behind only when the process is killed mid-write.
TEMP_SUFFIX = ".tmp"


def remove_stale_temp_files(folder: Path | str) -> list[Path]:
    """Delete the temp files of writes that were killed (kill -9, power loss) in `folder`.

    Call it only while holding the folder's lock (`folder_lock`): then no other writer is mid-write there.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.glob(f".*{TEMP_SUFFIX}"):
        if path.is_file() and not path.is_symlink() and not _writer_alive(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


_WRITER_PID = re.compile(r"\.(\d+)-[^.]*" + re.escape(TEMP_SUFFIX) + "$")


def _writer_alive(path: Path) -> bool:
    """Whether the process that is writing this temp file still runs (a manifest is written after a stage lets go
    of its folder's lock: another run taking the lock then must not delete it mid-write)."""
    match = _WRITER_PID.search(path.name)
    if not match:
        return False  # a temp name without a pid: left by an older version, stale
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


LOCK_NAME = ".prep_platform.lock"


@contextmanager
def folder_lock(folders: Iterable[Path | str], on_wait: Callable[[str], None] | None = None) -> Iterator[list[Path]]:
    """Hold an exclusive lock on each folder (sorted, so two runs never deadlock) and clean their stale temp files.

    A second run on the same folder waits, saying so through `on_wait`, and then finds the first run's files
    current instead of encoding them again and racing it for the manifest. Yields the temp files removed.
    """
    folders = sorted({Path(f) for f in folders})
    with ExitStack() as stack:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(folder / LOCK_NAME))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if on_wait:
                    on_wait(f"{folder} is in use by another run (lock {folder / LOCK_NAME}); waiting for it to finish")
                lock.acquire()
            stack.callback(lock.release)
        removed = [path for folder in folders for path in remove_stale_temp_files(folder)]
        yield removed


def copy_atomic(source: Path | str, target: Path | str) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path | str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def read_text_file(path: Path | str) -> str:
    """A UTF-8 text file; one that is not UTF-8 is a ValueError naming the file and the first bad byte."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def read_json_file(path: Path | str) -> Any:
    """A JSON file; bad UTF-8 or bad JSON is a ValueError naming the file and where."""
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def read_json_if_present(path: Path | str) -> Any | None:
    """The JSON a step wrote, or None when that step has not run (the file is absent)."""
    path = Path(path)
    return read_json_file(path) if path.exists() else None


def write_json_atomic(path: Path | str, obj: Any, *, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
