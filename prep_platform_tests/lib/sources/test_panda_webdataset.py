"""Panda-70M download shards as video2dataset writes them: webdataset tars read in place, shards that arrive and
grow over days (the sensor), and a truncated tar or a member without caption marking only its clips."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import dagster as dg
import numpy as np

from prep_platform.lib.source_files import index_tar, member_path, open_clip
from prep_platform.lib.source_files import file_fingerprint, source_stat
from prep_platform.samples.panda70m import webdataset_tar
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.sources.panda70m import download_shards, ingest_download_shard, ingest_panda_shards
from prep_platform.lib.layout import PandaFolder
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import read_window


def _clip_bytes(tmp_path: Path, name: str, seconds: float = 7.0, seed: int = 0) -> bytes:
    path = tmp_path / f"{name}.mp4"
    write_clip(path, seconds=seconds, seed=seed, textured=True)
    return path.read_bytes()


def _members(tmp_path: Path, keys: list[str], *, captions: bool = True) -> list[tuple[str, bytes]]:
    members = []
    for n, key in enumerate(keys):
        members.append((f"{key}.mp4", _clip_bytes(tmp_path, key, seed=n)))
        if captions:
            members.append((f"{key}.txt", f"a car drives through the city, take {n}\n".encode()))
        members.append((f"{key}.json", json.dumps({"key": key, "status": "success"}).encode()))
    return members


def test_a_tar_member_is_read_in_place_as_the_same_clip(tmp_path):
    members = _members(tmp_path, ["000010000"])
    tar = tmp_path / "00001.tar"
    tar.write_bytes(webdataset_tar(members))
    clip = member_path(tar, "000010000.mp4")
    with open_clip(clip) as handle:
        assert handle.read() == members[0][1]  # the member's bytes, nothing extracted to disk
    assert file_fingerprint(clip) == file_fingerprint(tmp_path / "000010000.mp4")
    assert source_stat(clip)["source_bytes"] == len(members[0][1])
    config = FrameConfig(width=96, height=64, frames=9)
    in_tar, on_disk = read_window(clip, config, want_frames=True), read_window(tmp_path / "000010000.mp4", config, want_frames=True)
    assert in_tar.status == "ok" and np.array_equal(in_tar.frames, on_disk.frames)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"] == ["000010000.mp4"]  # nothing extracted


def test_a_truncated_tar_and_a_member_without_caption_mark_only_their_clips(tmp_path):
    panda = tmp_path / "panda"
    shards = panda / "shards"
    shards.mkdir(parents=True)
    whole = webdataset_tar(_members(tmp_path, ["000020000", "000020001"]) + _members(tmp_path, ["000020002"], captions=False))
    (shards / "00002.tar").write_bytes(whole)
    # A second tar cut inside its last clip's bytes, as a download killed mid-write leaves it.
    cut = webdataset_tar(_members(tmp_path, ["000030000", "000030001"]))
    index = tarfile.open(fileobj=io.BytesIO(cut))
    last = index.getmember("000030001.mp4")
    (shards / "00003.tar").write_bytes(cut[:last.offset_data + last.size // 2])

    summary = ingest_panda_shards(panda)
    assert summary["shards"] == 2
    by_id = {row["video_id"]: row for row in summary["failed"]}
    assert by_id["panda_000020002"]["status"] == "no_caption" and "000020002" in by_id["panda_000020002"]["reason"]
    truncated = by_id["panda_000030001"]
    assert truncated["status"] == "truncated" and "truncated shard" in truncated["reason"]
    assert str(shards / "00003.tar") in truncated["reason"]  # the file is named
    assert summary["counts"] == {"no_caption": 1, "ok": 3, "truncated": 1}
    assert index_tar(shards / "00003.tar").members["000030001.mp4"].missing > 0


def test_a_shard_is_ingested_again_only_when_it_changed(tmp_path):
    panda = tmp_path / "panda"
    (panda / "shards").mkdir(parents=True)
    tar = panda / "shards" / "00004.tar"
    tar.write_bytes(webdataset_tar(_members(tmp_path, ["000040000"])))
    first = ingest_download_shard(panda, "00004.tar")
    assert first["counts"] == {"ok": 1} and not first["skipped"]
    assert ingest_download_shard(panda, "00004.tar")["skipped"]  # unchanged: not read again
    tar.write_bytes(webdataset_tar(_members(tmp_path, ["000040000", "000040001"])))  # the downloader appended
    grown = ingest_download_shard(panda, "00004.tar")
    assert grown["counts"] == {"ok": 2} and not grown["skipped"]


def test_the_sensor_adds_a_partition_when_a_shard_appears_and_ingests_it_again_when_it_grows(tmp_path):
    from prep_platform.definitions import build_definitions
    from prep_platform.defs.raw.panda70m import download_shard_partitions, panda70m_shards_sensor
    from prep_platform.defs.resources import PrepPlatformSettings

    settings = PrepPlatformSettings(data_root=str(tmp_path / "data"), msr_vtt_source="sample")
    defs = build_definitions(settings)
    shards = settings.layout().panda.shards_dir
    shards.mkdir(parents=True)
    folder = shards / "00000"
    folder.mkdir()
    (folder / "000000000.mp4").write_bytes(_clip_bytes(tmp_path, "a"))

    def tick(instance, cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"settings": settings},
                                          repository_def=defs.get_repository_def())
        result = panda70m_shards_sensor(context)
        for request in result.dynamic_partitions_requests:  # what the daemon does with them
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        assert [r.partition_key for r in first.run_requests] == ["00000"]
        assert instance.get_dynamic_partitions(download_shard_partitions.name) == ["00000"]
        assert not tick(instance, first.cursor).run_requests  # nothing new: nothing to do

        (shards / "00001.tar").write_bytes(webdataset_tar(_members(tmp_path, ["000010000"])))
        (folder / "000000001.mp4").write_bytes(_clip_bytes(tmp_path, "b", seed=3))  # the folder shard grew
        second = tick(instance, first.cursor)
        requests = {r.partition_key: r.run_key for r in second.run_requests}
        assert set(requests) == {"00000", "00001.tar"}
        assert requests["00000"] != first.run_requests[0].run_key  # a new run key: the grown shard runs again
        assert instance.get_dynamic_partitions(download_shard_partitions.name) == ["00000", "00001.tar"]

        # The requested runs ingest exactly those shards.
        job = defs.resolve_job_def("panda_ingest_job")
        for key in requests:
            assert job.execute_in_process(instance=instance, partition_key=key).success
    panda = PandaFolder(settings.layout().panda.root)
    assert set(download_shards(panda)) == {"00000", "00001.tar"}
    assert json.loads(panda.ingest_report("00000").read_text())["clips"] == 2
    assert json.loads(panda.ingest_report("00001.tar").read_text())["layout"] == "webdataset"
