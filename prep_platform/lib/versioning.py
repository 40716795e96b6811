"""Content hashes of files: cache fingerprints, input hashes in reports, data versions."""

from __future__ import annotations

import hashlib
from pathlib import Path


def _update(digest, path: Path | str) -> None:
    with open(path, "rb") as handle:
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
