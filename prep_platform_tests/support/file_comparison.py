"""Two data roots compared file for file (the command line vs Dagster, a Celery cluster vs one process): what each
file says, with its root and what says when or how long set aside."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# What says when or how long, never what: left out of the comparison. (The hashes of the two clip manifests are of
# files that name their own root; the manifests themselves are compared, root aside. Whether the model was already
# in memory when a scenario's stage ran says how the process went: the tool keeps one encoder for every scenario,
# each Dagster run here builds its own.)
# A cache file's size and mtime say where and when it was written (its header names its source by absolute path).
VOLATILE_KEYS = {"duration_s", "cpu_s", "created_at", "encode_seconds", "source_mtime_ns", "cache_mtime_ns", "cache_bytes", "manifest_sha256",
                 "panda_manifest_sha256", "startup_s", "model_load_s", "model_loaded",
                 # how many caption embeddings a step found cached depends on which step ran first
                 "embeddings_computed",
                 # a download shard's signature is its files' sizes and mtimes (a copy has other mtimes)
                 "signature"}

def _normalise(value, root: Path):
    """Paths made relative to the root; volatile keys dropped."""
    if isinstance(value, dict):
        return {k: _normalise(v, root) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_normalise(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(str(root), "<root>")
    return value


def _json_lines(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def comparable(path: Path, root: Path):
    """What a file says, in a form that two roots can be compared by."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            header = _normalise(json.loads(str(data["header"])), root)
            return header, {key: data[key].tobytes() for key in data.files if key != "header"}
    if path.suffix == ".json":
        return _normalise(json.loads(path.read_text()), root)
    if path.suffix == ".parquet" and path.name == "scenario_metadata.parquet":
        from prep_platform.lib.files.metadata_store import read_records

        return _normalise(read_records(path), root)
    if path.suffix == ".parquet":  # a manifest's rows (files.row_table): every column, `extra` opened
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        for row in rows:
            row.update(json.loads(row.pop("extra") or "{}"))
            row.pop("keys_present")  # which keys a row has: volatile ones (reused, cpu_s) are compared aside
        return _normalise(rows, root)
    if path.suffix == ".jsonl":
        return _normalise(_json_lines(path.read_text()), root)
    if path.suffix in (".csv", ".md", ".txt"):
        return path.read_text().replace(str(root), "<root>")
    return path.read_bytes()


def files_under(root: Path) -> set[Path]:
    """Every file, but the caption-embedding cache's parts (named by the process that wrote them: compared by
    their presence instead)."""
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "labels" not in p.relative_to(root).parts[:2]}
