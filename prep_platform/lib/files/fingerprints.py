"""Content hashes of files: cache fingerprints, input hashes in reports, data versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def current_fingerprint(path: Path | str, recorded: dict) -> str:
    """The content hash of `path` now. The recorded hash is reused only while size and mtime are the ones it was
    recorded with (the fast path); when either differs, or none was recorded, the file is hashed again."""
    fingerprint = recorded.get("source_fingerprint")
    if fingerprint and "source_bytes" in recorded and "source_mtime_ns" in recorded:
        now = source_stat(path)
        if now["source_bytes"] == recorded["source_bytes"] and now["source_mtime_ns"] == recorded["source_mtime_ns"]:
            return fingerprint
    return file_fingerprint(path)
