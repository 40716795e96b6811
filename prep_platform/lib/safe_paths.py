"""The one place where identifiers from datasets become file names.

Every id that a dataset supplies (MSR-VTT video_id, VATEX videoID, Panda-70M keys and shard names, scenario
names) ends up in a path. A hostile or broken id (`../x`, an absolute path, `a/b`, a NUL, a Unicode slash
look-alike, 300 characters) must never write outside its root: ids are checked against one conservative pattern
and every path built from them is resolved and checked to lie inside its root.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# Letters, digits, `_`, `-` and `.` (ASCII only, so no look-alike of `/` passes), never a leading `.` (no `..`,
# no hidden files), at most 128 characters: well under any file system's 255-byte name limit with suffixes added.
MAX_ID_LENGTH = 128
SAFE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,%d}" % (MAX_ID_LENGTH - 1), re.ASCII)
UNSAFE_ID = "unsafe_id"  # the per-clip status of a rejected id


class UnsafeIdError(ValueError):
    """An id that cannot be used as a file name, or a path that would leave its root."""


def unsafe_id_reason(value: object) -> str | None:
    """Why `value` cannot be a file name, or None when it can."""
    if not isinstance(value, str):
        return f"id {value!r} is a {type(value).__name__}, not a string"
    if not value:
        return "id is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"id {value[:40]!r}... is {len(value)} characters long (at most {MAX_ID_LENGTH})"
    if SAFE_ID_PATTERN.fullmatch(value):
        return None
    if "\x00" in value:
        problem = "holds a NUL character"
    elif "/" in value or "\\" in value:
        problem = "holds a path separator"
    elif value.startswith("."):
        problem = "starts with '.'"
    else:
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "_-."))})
        problem = "holds " + ", ".join(f"U+{ord(c):04X} {c!r}" for c in bad[:3])
    return f"id {value!r} {problem}: only ASCII letters, digits, '_', '-' and '.' (not leading) are allowed"


def check_id(value: object, what: str = "id") -> str:
    """`value` when it is a safe file name; UnsafeIdError naming `what` otherwise."""
    reason = unsafe_id_reason(value)
    if reason:
        raise UnsafeIdError(f"{what}: {reason}")
    return value  # type: ignore[return-value]


def path_inside(root: Path | str, *parts: str) -> Path:
    """`root / parts...`, refused unless it resolves (symlinks followed) to a place inside `root`.

    The common case is cheap (a planning pass builds millions of these paths): parts that are all safe ids (no
    separator, no leading dot) and no symbolic link among them cannot leave the root, which one lstat per part
    shows; anything else is resolved in full."""
    root = Path(root)
    candidate = root.joinpath(*parts)
    if not (all(isinstance(part, str) and SAFE_ID_PATTERN.fullmatch(part) for part in parts) and not _has_link(root, parts)):
        ensure_inside(root, candidate)
    return candidate


def _has_link(root: Path, parts: tuple[str, ...]) -> bool:
    current = str(root)
    for part in parts:
        current = os.path.join(current, part)
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return True
        except FileNotFoundError:
            return False  # nothing below a missing component exists
    return False


def ensure_inside(root: Path | str, path: Path | str) -> Path:
    """`path` itself, refused unless it resolves to a place inside `root` (or is `root`)."""
    resolved_root = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(path))
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise UnsafeIdError(f"{path} resolves to {resolved}, outside {resolved_root}")
    return Path(path)
