"""Panda-70M shards and links, as the files layout treats them: a tar member that is a symbolic or hard link gets a
manifest row with its status and reason (never skipped without one), a `.tar` that is a link out of the shards
folder is refused with a recorded row and never read, and the sensor adds only shard names the ingest accepts (one
shared rule)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import dagster as dg
import pytest

from prep_platform.lib.source_files import read_manifest
from prep_platform.lib.layout import PandaFolder
from prep_platform.lib.sources.panda70m import ingest_download_shard, shard_name_problem
from prep_platform.samples.synthetic_clips import write_clip


def _clip(tmp_path: Path, seed: int = 0) -> bytes:
    path = tmp_path / f"clip{seed}.mp4"
    write_clip(path, seconds=7.0, seed=seed, textured=True)
    return path.read_bytes()


def _tar(path: Path, members: list[tuple[str, bytes | tuple[bytes, str]]]) -> Path:
    """A real tar: (name, bytes) is a regular member; (name, (type, target)) a link member of that tarfile type."""
    with tarfile.open(path, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = 0, 0o644
            if isinstance(content, tuple):
                info.type, info.linkname = content
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def _sidecars(key: str) -> list[tuple[str, bytes]]:
    return [(f"{key}.txt", b"a car drives through the city\n"), (f"{key}.json", json.dumps({"key": key}).encode())]


def test_link_members_of_a_tar_each_get_a_row_with_a_status_and_a_reason(tmp_path):
    panda = tmp_path / "panda"
    (panda / "shards").mkdir(parents=True)
    _tar(panda / "shards" / "00000.tar", [
        ("000000000.mp4", _clip(tmp_path)), *_sidecars("000000000"),
        ("000000001.mp4", (tarfile.SYMTYPE, "../../../outside.mp4")), *_sidecars("000000001"),
        ("000000002.mp4", (tarfile.LNKTYPE, "000000000.mp4")), *_sidecars("000000002"),
        ("000000003.mp4", _clip(tmp_path, 1)), ("000000003.txt", (tarfile.SYMTYPE, "/etc/passwd")),
        ("notes", (tarfile.SYMTYPE, "/etc/hostname")),  # a link that belongs to no clip
    ])
    report = ingest_download_shard(panda, "00000.tar", min_duration_s=1.0)
    rows = {Path(row.path.partition("::")[2]).stem: row for row in read_manifest(PandaFolder(panda).ingested_manifest("00000.tar"))}
    assert set(rows) == {"000000000", "000000001", "000000002", "000000003", "notes"}
    assert rows["000000000"].status == "ok"
    for stem, says in (("000000001", "a symbolic link to '../../../outside.mp4'"),
                       ("000000002", "a hard link to '000000000.mp4'"),
                       ("000000003", "000000003.txt: a symbolic link to '/etc/passwd'"),
                       ("notes", "a symbolic link to '/etc/hostname'")):
        assert rows[stem].status == "unsafe_path" and says in rows[stem].error, rows[stem]
        assert rows[stem].error.startswith(str(panda / "shards" / "00000.tar") + "::")
    assert report["counts"] == {"ok": 1, "unsafe_path": 4} and len(report["failed"]) == 4


def test_a_tar_that_is_a_link_out_of_the_shards_folder_is_refused_with_a_row_and_never_read(tmp_path):
    panda = tmp_path / "panda"
    shards = panda / "shards"
    shards.mkdir(parents=True)
    outside = _tar(tmp_path / "elsewhere.tar", [("000010000.mp4", _clip(tmp_path)), *_sidecars("000010000")])
    (shards / "00001.tar").symlink_to(outside)
    (shards / "00002.tar").symlink_to(shards / "gone.tar")  # a link to nothing
    _tar(shards / "00003.tar", [("000030000.mp4", _clip(tmp_path, 2)), *_sidecars("000030000")])
    (shards / "00004.tar").symlink_to("00003.tar")  # a link to a shard beside it stays inside: read

    linked = ingest_download_shard(panda, "00001.tar", min_duration_s=1.0)
    assert linked["counts"] == {"unsafe_path": 1} and "a link that leaves the shards folder" in linked["problem"]
    (row,) = read_manifest(PandaFolder(panda).ingested_manifest("00001.tar"))
    assert row.status == "unsafe_path" and row.path == str(shards / "00001.tar") and str(outside) in row.error
    dangling = ingest_download_shard(panda, "00002.tar", min_duration_s=1.0)
    assert dangling["counts"] == {"missing": 1} and "a link to nothing" in dangling["failed"][0]["reason"]
    assert ingest_download_shard(panda, "00004.tar", min_duration_s=1.0)["counts"] == {"ok": 1}


BAD_NAMES = ["with space", "new\nline", "s" * 250, "a...b", ".hidden"]


@pytest.mark.parametrize("name", BAD_NAMES[:4])
def test_the_ingest_refuses_what_the_shared_rule_refuses(tmp_path, name):
    panda = tmp_path / "panda"
    (panda / "shards" / name).mkdir(parents=True)
    write_clip(panda / "shards" / name / "000000000.mp4", seconds=7.0)
    assert shard_name_problem(name)
    report = ingest_download_shard(panda, name)
    assert report["manifest"] is None and report["counts"] == {"unsafe_id": 1}
    assert report["problem"].endswith(shard_name_problem(name))


def test_the_sensor_adds_only_shard_names_the_ingest_accepts(tmp_path):
    from prep_platform.defs.raw.panda70m import (
        download_shard_partitions, panda70m_shards_sensor, register_download_shards,
    )
    from prep_platform.defs.resources import PrepPlatformSettings

    settings = PrepPlatformSettings(data_root=str(tmp_path / "data"), msr_vtt_source="sample")
    shards = settings.layout().panda.shards_dir
    for name in ["00000", *BAD_NAMES]:
        (shards / name).mkdir(parents=True)
        (shards / name / "000000000.mp4").write_bytes(b"not read by the sensor")
    _tar(shards / "00001 copy.tar", [("000010000.mp4", b"x")])

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=None, resources={"settings": settings})
        result = panda70m_shards_sensor(context)
        assert [request.partition_key for request in result.run_requests] == ["00000"]
        assert [list(request.partition_keys) for request in result.dynamic_partitions_requests] == [["00000"]]
        for request in result.dynamic_partitions_requests:  # what the daemon does with them: accepted by Dagster
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        again = panda70m_shards_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                               resources={"settings": settings}))
        assert not again.run_requests and not again.dynamic_partitions_requests
        # The instructions asset registers shards already there by the same rule.
        assert register_download_shards(instance, ["00000", "00002", *BAD_NAMES, "00001 copy.tar"]) == ["00002"]
        assert instance.get_dynamic_partitions(download_shard_partitions.name) == ["00000", "00002"]
