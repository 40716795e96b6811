"""Caption embeddings cached by caption text and model: a re-run, or an edited scenarios YAML, costs only the
scoring. Append-only parts (`part-<n>-<pid>.npz`: 16-byte keys and float16 vectors), each written atomically, so
two runs never corrupt each other and a killed run loses only what it had not written.

A vector's derivation (lib.currency): its caption (the input) embedded by the model (the settings: its tag) in the
cache's format. The key is made of the first two, so a caption found is that caption by that model; each part
records the model tag and format version it was written with, and is loaded only while that record is current
(a part written before parts recorded them holds its folder's model, in version 1)."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import numpy as np

from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import atomic_path
from prep_platform.lib.layout import label_embedding_part, label_embedding_parts, label_embeddings_folder

# Bumped when the same caption and model would now give another vector: every part is left unread.
CAPTION_CACHE_VERSION = 1


def caption_key(model_tag: str, caption: str) -> bytes:
    return hashlib.sha256(f"{model_tag}\0{caption}".encode()).digest()[:16]


class EmbeddingCache:
    def __init__(self, folder: Path | None, model_tag: str):
        self.folder = label_embeddings_folder(folder, model_tag) if folder is not None else None
        self.model_tag = model_tag
        self._vectors: dict[bytes, np.ndarray] = {}
        self._new: dict[bytes, np.ndarray] = {}
        self.loaded_from_disk = 0
        self.parts_not_current = 0  # parts of another model or format version, left unread
        expected = Derivation({}, model_tag, CAPTION_CACHE_VERSION)
        if self.folder is not None and self.folder.is_dir():
            for part in label_embedding_parts(self.folder):
                try:
                    with np.load(part) as data:
                        recorded = Derivation({}, str(data["model_tag"]) if "model_tag" in data else model_tag,
                                              int(data["format_version"]) if "format_version" in data else 1)
                        if not is_current(recorded, expected):
                            self.parts_not_current += 1
                            continue
                        keys, vectors = data["keys"], data["vectors"]
                except (OSError, ValueError, KeyError):
                    continue  # a damaged part only costs its captions again
                for key, vector in zip(keys, vectors):
                    self._vectors[key.tobytes()] = vector
            self.loaded_from_disk = len(self._vectors)

    def vectors(self, texts: list[str], compute) -> np.ndarray:
        """[N, D] vectors of `texts`: from the cache, the missing ones by `compute(list of distinct texts)` (kept
        for the next call and the next flush). Each text is hashed once."""
        keys = [caption_key(self.model_tag, text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts) if key not in self._vectors}
        if missing:
            for key, vector in zip(missing, compute(list(missing.values())).astype(np.float16)):
                self._vectors[key] = self._new[key] = vector
        return np.stack([self._vectors[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float16)

    def flush(self) -> Path | None:
        """Write what was computed since the last flush as one new part."""
        if self.folder is None or not self._new:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        for n in itertools.count(len(label_embedding_parts(self.folder))):
            path = label_embedding_part(self.folder, n, os.getpid())
            if not path.exists():
                break
        keys = np.frombuffer(b"".join(self._new), dtype=np.uint8).reshape(len(self._new), 16)
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, keys=keys, vectors=np.stack(list(self._new.values())), model_tag=np.array(self.model_tag),
                     format_version=np.array(CAPTION_CACHE_VERSION))
        self._new = {}
        return path
