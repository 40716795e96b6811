"""Content hashes of files: cache fingerprints, input hashes in reports, data versions."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from prep_platform.lib.currency import unchanged_since
from prep_platform.lib.files.clip_source import clip_stat, open_clip


def _update(digest, path: Path | str) -> None:
    with open_clip(path) as handle:  # a file, or a clip inside a webdataset tar (files.clip_source)
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
