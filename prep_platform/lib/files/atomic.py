"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
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
        tmp = _new_temp_file(target)
    try:
        with named_write_errors(target):  # disk full, quota, permissions: one message that names the file
            yield tmp
            if tmp.exists():
                os.chmod(tmp, 0o644)  # created 0600; the result is an ordinary data file
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


# `.<name>.<pid>-<host>-<random>.tmp`: what atomic_path leaves behind only when its process is killed mid-write.
# The writer's pid and host in the name let a later run tell a dead writer's file from a live one's, and the exact
# shape lets it tell ours from anyone else's (a user's `.notes.tmp` is never touched).
TEMP_SUFFIX = ".tmp"
_OUR_TEMP = re.compile(r"\A\..+\.(?P<pid>[0-9]{1,10})-(?P<host>[0-9a-f]{8})-[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"\Z",
                       re.DOTALL)


def is_atomic_temp_name(name: str) -> bool:
    """Whether a file name has the shape of atomic_path's temp files (a writer's, live or killed)."""
    return _OUR_TEMP.match(name) is not None


@functools.lru_cache(maxsize=1)
def host_tag() -> str:
    """This machine, as 8 hex digits of its host name: a pid means something only on the host that gave it."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def writer_gone(pid: object, host: object) -> bool:
    """Whether the writer `pid` of host `host` has surely ended. A writer of another host (a data root shared by
    machines) is never taken for gone: its pid cannot be checked from here. A reused pid keeps a dead writer's
    file until that process ends too: a leak, never a live file removed."""
    if host != host_tag() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def beside(target: Path | str, name: str) -> Path:
    """`name` in `target`'s folder: the one place that joins what lies beside a target only while it is written or
    replaced (atomic_path's temp files, an unpacking folder, an export's partial and old folders and their owner
    files). The target's own place is the layout's (lib.layout); `name` is one component, never a path, so what is
    written beside a target stays beside it."""
    target = Path(target)
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\x00" in name:
        raise ValueError(f"{name!r} is not a name beside {target}")
    return target.parent / name


def _new_temp_file(target: Path) -> Path:
    for _ in range(100):
        tmp = beside(target, f".{target.name}.{os.getpid()}-{host_tag()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temp name beside {target}")


def remove_stale_temp_files(folder: Path | str) -> list[Path]:
    """Delete the temp files atomic_path left in `folder` when its writer was killed (kill -9, power loss): only
    files of that exact naming whose writer's process is gone from this host. Safe without the folder's lock: a
    live writer's file and anyone else's are left alone. A stage calls it when it starts on a folder it owns."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _OUR_TEMP.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) and writer_gone(int(match["pid"]), match["host"]):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


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


def unreadable(exc: OSError) -> str:
    """Why an input file could not be read, in the words a user looks for: "not found" for a mistyped path."""
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def read_text_file(path: Path | str) -> str:
    """A UTF-8 text file; one that is not there, not UTF-8, or a folder, is a ValueError naming the file (and the
    first bad byte)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise ValueError(f"{path}: {unreadable(exc)}") from None
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
    except RecursionError:  # `[[[[...` tens of thousands deep: json's parser recurses once a level
        raise ValueError(f"{path}: not valid JSON: nested too deeply") from None


def read_json_if_present(path: Path | str) -> Any | None:
    """The JSON a step wrote, or None when that step has not run (the file is absent)."""
    path = Path(path)
    return read_json_file(path) if path.exists() else None


def write_json_atomic(path: Path | str, obj: Any, *, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
