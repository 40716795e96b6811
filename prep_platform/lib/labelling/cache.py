"""Caption embeddings cached by caption text and model: a re-run, or an edited scenarios YAML, costs only the
scoring. Append-only parts (`part-<n>-<pid>.npz`: 16-byte keys and float16 vectors), each written atomically, so
two runs never corrupt each other and a killed run loses only what it had not written."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import numpy as np

from prep_platform.lib.files.atomic import atomic_path


def caption_key(model_tag: str, caption: str) -> bytes:
    return hashlib.sha256(f"{model_tag}\0{caption}".encode()).digest()[:16]


class EmbeddingCache:
    def __init__(self, folder: Path | None, model_tag: str):
        self.folder = Path(folder) / model_tag if folder is not None else None
        self.model_tag = model_tag
        self._vectors: dict[bytes, np.ndarray] = {}
        self._new: dict[bytes, np.ndarray] = {}
        self.loaded_from_disk = 0
        if self.folder is not None and self.folder.is_dir():
            for part in sorted(self.folder.glob("part-*.npz")):
                try:
                    with np.load(part) as data:
                        keys, vectors = data["keys"], data["vectors"]
                except (OSError, ValueError, KeyError):
                    continue  # a damaged part only costs its captions again
                for key, vector in zip(keys, vectors):
                    self._vectors[key.tobytes()] = vector
            self.loaded_from_disk = len(self._vectors)

    def get(self, caption: str) -> np.ndarray | None:
        key = caption_key(self.model_tag, caption)
        return self._vectors.get(key)

    def missing(self, captions) -> list[str]:
        return [c for c in dict.fromkeys(captions) if caption_key(self.model_tag, c) not in self._vectors]

    def add(self, captions: list[str], vectors: np.ndarray) -> None:
        for caption, vector in zip(captions, vectors.astype(np.float16)):
            key = caption_key(self.model_tag, caption)
            self._vectors[key] = vector
            self._new[key] = vector

    def flush(self) -> Path | None:
        """Write what was computed since the last flush as one new part."""
        if self.folder is None or not self._new:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        for n in itertools.count(len(list(self.folder.glob("part-*.npz")))):
            path = self.folder / f"part-{n:05d}-{os.getpid()}.npz"
            if not path.exists():
                break
        keys = np.frombuffer(b"".join(self._new), dtype=np.uint8).reshape(len(self._new), 16)
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, keys=keys, vectors=np.stack(list(self._new.values())))
        self._new = {}
        return path
