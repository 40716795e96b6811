"""The metadata spill: records spilled by scenario come back in store order, one table per shard, whether a scenario
fits one bucket or is dealt into many; spills of dead builds are removed; the whole-dataset checks walk a store."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq

from prep_platform.lib.files.metadata_store import (
    SPLITS,
    natural_key,
    read_document,
    read_records,
    record_columns,
    record_from_row,
    store_row,
    write_records,
    write_store,
)
from prep_platform.lib.files.metadata_store import RecordSpill, remove_dead_spills
from prep_platform.lib.stages.metadata import clips_in_both_splits, store_schema_problems


def _record(video_id: str, scenario: str) -> dict:
    return {"video_id": video_id, "split": None, "scenario": scenario, "shard": 0, "video_path": f"/v/{video_id}.mp4",
            "caption": f"caption of {video_id}", "prompt_variants": [f"caption of {video_id}"],
            "source": {"dataset": "panda-70m", "fps": 30.0, "width": 640, "height": 360, "duration_s": 8.5,
                       "frame_count": 255}, "label": {"confidence": 0.5}}


def _spilled(tmp_path, sizes: dict[str, int], seed: int = 0) -> tuple[RecordSpill, dict[str, dict[str, tuple[int, str]]]]:
    rng = random.Random(seed)
    spill = RecordSpill(tmp_path / "cache" / "metadata-build")
    expected: dict[str, dict[str, tuple[int, str]]] = {}
    for scenario, n in sizes.items():
        ids = [f"clip{i}_{scenario}" for i in rng.sample(range(10 * n), n)]
        for start in range(0, n, 7):  # chunks of 7, as labelled chunks arrive
            spill.add(scenario, [store_row(_record(vid, scenario)) for vid in ids[start:start + 7]])
        shards = np.array([rng.randrange(6) for _ in ids], dtype=np.int32)
        validation = np.array([rng.random() < 0.2 for _ in ids])
        spill.assign(scenario, shards, validation)
        expected[scenario] = {vid: (int(s), SPLITS[int(v)]) for vid, s, v in zip(ids, shards, validation)}
    spill.finish()
    return spill, expected


def _in_store_order(tables) -> list[tuple[str, int, str, str]]:
    return [(row["scenario"], row["shard"], row["split"], row["video_id"]) for table in tables for row in table.to_pylist()]


def test_spilled_records_come_back_in_store_order_one_table_per_shard_however_many_buckets(tmp_path):
    spill, expected = _spilled(tmp_path, {"urban": 120, "nature": 45})
    one_bucket = list(spill.shard_tables(["urban", "nature"], rows_per_bucket=10_000))
    dealt = list(spill.shard_tables(["urban", "nature"], rows_per_bucket=25))  # urban in ~5 buckets, nature in 2
    assert _in_store_order(dealt) == _in_store_order(one_bucket)
    rows = _in_store_order(dealt)
    assert len(rows) == 165 and {vid: (shard, split) for _, shard, split, vid in rows} == {
        vid: place for clips in expected.values() for vid, place in clips.items()}
    # Store order: scenario as listed, then shard, split (train first), clip id (clip2 before clip10).
    assert rows == sorted(rows, key=lambda r: (["urban", "nature"].index(r[0]), r[1], SPLITS.index(r[2]), natural_key(r[3])))
    assert all(len({(row["scenario"], row["shard"]) for row in table.to_pylist()}) == 1 for table in dealt)
    assert len(dealt) == len({(r[0], r[1]) for r in rows})
    # No bucket file is left behind; the records read back whole.
    assert sorted(p.name for p in spill.folder.iterdir()) == ["scenario-0000.parquet", "scenario-0001.parquet"]
    assert record_from_row(dealt[0].to_pylist()[0])["source"]["frame_count"] == 255
    spill.release()
    assert not spill.folder.exists()


def test_the_store_written_from_shard_tables_has_a_row_group_per_shard(tmp_path):
    spill, _ = _spilled(tmp_path, {"urban": 60, "crowd": 20}, seed=3)
    store = tmp_path / "metadata" / "scenario_metadata.parquet"
    assert write_store(store, spill.shard_tables(["urban", "crowd"], rows_per_bucket=16)) == 80
    file = pq.ParquetFile(store)
    shards = {(r["scenario"], r["shard"]) for r in read_records(store)}
    assert file.num_row_groups == len(shards)
    urban_3 = read_records(store, scenario="urban", shard=3)
    assert urban_3 and all(r["scenario"] == "urban" and r["shard"] == 3 for r in urban_3)


def test_a_dead_builds_spill_is_removed_and_a_live_ones_is_kept(tmp_path):
    parent = tmp_path / "cache" / "metadata-build"
    live = RecordSpill(parent)
    dead_process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead_process.stdout)
    host = live.folder.name.rsplit("-", 2)[0]
    dead = parent / f"{host}-{dead_pid}-abc"
    dead.mkdir()
    (dead / "scenario-0000.parquet").write_bytes(b"left by a killed build")
    other_host = parent / f"elsewhere-{dead_pid}-abc"
    other_host.mkdir()
    remove_dead_spills(parent)
    assert not dead.exists() and live.folder.exists() and other_host.exists()
    assert str(os.getpid()) in live.folder.name


def test_whole_dataset_checks_walk_a_store_a_shard_at_a_time(tmp_path):
    records = []
    for i in range(30):
        record = _record(f"clip{i}", "urban" if i % 2 else "nature")
        records.append(dict(record, split="validation" if i % 5 == 0 else "train", shard=i % 3))
    records[4]["prompt_variants"] = ["not the caption"]
    del records[7]["video_path"]
    records.append(dict(records[10], split="validation"))  # clip10 in both splits
    store = tmp_path / "scenario_metadata.parquet"
    write_records(store, records)
    problems, total = store_schema_problems(store)
    assert total == 2 and len(problems) == 2
    assert any("prompt_variants: the first variant is not the caption" in p for p in problems)
    # Records are named as in the whole document read back (what a user opens): train[i] is that document's i-th.
    document = read_document(store)
    at = next(i for i, r in enumerate(document["train"]) if r["video_id"] == "clip7")
    assert f"train[{at}].video_path: Field required" in problems
    assert all(p.startswith(("train[", "validation[")) for p in problems)
    first, total = store_schema_problems(store, limit=1)
    assert len(first) == 1 and total == 2
    assert clips_in_both_splits(record_columns(store, ["video_id", "split", "scenario"])) == ["clip10"]
