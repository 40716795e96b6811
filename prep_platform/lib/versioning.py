"""Data versions from file content: an asset whose output bytes did not change does not make downstream stale."""

from __future__ import annotations

import hashlib
from pathlib import Path


def content_fingerprint(*paths: Path | str) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:24]
