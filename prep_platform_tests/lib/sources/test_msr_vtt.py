"""Extraction, probing and the manifest: bad clips end with their reasons, the run succeeds for the rest."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from prep_platform.lib.source_files import read_manifest
from prep_platform.lib.sources.msr_vtt import load_annotation
from prep_platform.lib.sources.msr_vtt import MsrVttSourceConfig, SourceError, download_msr_vtt
from prep_platform.lib.frames.read import probe_video
from prep_platform.samples.msr_vtt import VIDEOS_ARCHIVE, generate_sample_release, sample_clips


def test_bad_clips_end_in_the_manifest_with_reasons(sample_release, tmp_path):
    result = download_msr_vtt(tmp_path, config=MsrVttSourceConfig(source=str(sample_release)), limit=None)
    rows = {row.video_id: row for row in read_manifest(result.manifest_path)}
    defects = {clip.video_id: clip.defect for clip in sample_clips() if clip.defect}

    expected_status = {"truncated": "truncated", "zero_byte": "empty", "absent": "missing", "too_short": "too_short"}
    for video_id, defect in defects.items():
        row = rows[video_id]
        assert row.status == expected_status[defect], (video_id, row)
        assert video_id in row.error or row.path in row.error
    assert "absent from MSRVTT_Videos.zip" in rows[next(v for v, d in defects.items() if d == "absent")].error
    truncated = rows[next(v for v, d in defects.items() if d == "truncated")]
    assert "declares" in truncated.error and truncated.frame_count < 150

    good = [row for row in rows.values() if row.video_id not in defects]
    assert good and all(row.status == "ok" for row in good)
    for row in good:
        assert Path(row.path).stat().st_size == row.bytes
        assert row.width == 320 and row.height == 240 and 10.0 <= row.duration_s <= 17.0
        assert row.frame_count == pytest.approx(row.duration_s * row.fps, abs=1)
    assert result.counts == {"empty": 1, "missing": 1, "ok": len(good), "too_short": 1, "truncated": 1}
    assert json.loads((tmp_path / "download_report.json").read_text())["counts"] == result.counts


def test_limit_takes_train_clips_first_then_validate_in_annotation_order(sample_release, tmp_path):
    annotation = load_annotation(sample_release / "raw_data" / "MSRVTT_data.json")
    videos = annotation["videos"]
    order = [v["video_id"] for v in videos if v["split"] == "train"] + [
        v["video_id"] for v in videos if v["split"] == "validate"
    ]
    n_train = sum(v["split"] == "train" for v in videos)
    limit = n_train + 2
    result = download_msr_vtt(tmp_path, config=MsrVttSourceConfig(source=str(sample_release)), limit=limit)
    assert [row.video_id for row in result.rows] == order[:limit]
    assert [row.source_split for row in result.rows][-2:] == ["validate", "validate"]
    # Only the selected clips are extracted; test-split clips never are.
    extracted = {p.stem for p in (tmp_path / "train-video").iterdir()}
    assert extracted <= set(order[:limit])
    assert not any(v["split"] == "test" and v["video_id"] in extracted for v in videos)


def test_a_changed_clip_is_re_extracted(sample_release, tmp_path):
    config = MsrVttSourceConfig(source=str(sample_release))
    download_msr_vtt(tmp_path, config=config, limit=3)
    (tmp_path / "train-video" / "video1.mp4").write_bytes(b"garbage")
    result = download_msr_vtt(tmp_path, config=config, limit=3)
    assert result.report["extracted"] == 1 and result.report["already_extracted"] == 2
    assert all(row.status == "ok" for row in result.rows)


def test_local_source_without_the_archive_is_a_clear_error(tmp_path):
    (tmp_path / "release" / "raw_data").mkdir(parents=True)
    (tmp_path / "release" / "raw_data" / "MSRVTT_data.json").write_text("{}")
    with pytest.raises(SourceError, match=r"expected MSRVTT_Videos.zip"):
        download_msr_vtt(tmp_path / "out", config=MsrVttSourceConfig(source=str(tmp_path / "release")))


def test_bad_annotation_names_the_file_and_field(sample_release, tmp_path, copy_of):
    release = copy_of(sample_release)
    path = release / "raw_data" / "MSRVTT_data.json"
    data = json.loads(path.read_text())
    data["videos"][3]["split"] = "training"
    del data["videos"][5]["start time"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as error:
        download_msr_vtt(tmp_path / "out", config=MsrVttSourceConfig(source=str(release)))
    message = str(error.value)
    assert "MSRVTT_data.json" in message and "videos[3].split" in message and "videos[5].start time" in message


def test_not_a_video_and_no_video_stream_are_reported(tmp_path):
    import av
    import numpy as np

    not_video = tmp_path / "text.mp4"
    not_video.write_text("this is not a video\n" * 100)
    assert probe_video(not_video).status == "unreadable"

    audio_only = tmp_path / "audio.mp4"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for _ in range(20):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    result = probe_video(audio_only)
    assert result.status == "no_video_stream" and "no video stream" in result.error


def test_sample_generation_is_deterministic(sample_release, tmp_path):
    again = generate_sample_release(tmp_path / "again")
    for rel in ("raw_data/MSRVTT_data.json", "raw_data/category.txt", VIDEOS_ARCHIVE):
        assert (again / rel).read_bytes() == (sample_release / rel).read_bytes(), rel


def test_sample_follows_the_msr_vtt_format(sample_release):
    annotation = load_annotation(sample_release / "raw_data" / "MSRVTT_data.json")
    raw = json.loads((sample_release / "raw_data" / "MSRVTT_data.json").read_text())
    assert set(raw) == {"info", "videos", "sentences"}
    assert set(raw["videos"][0]) == {"id", "video_id", "category", "url", "start time", "end time", "split"}
    assert {v["split"] for v in annotation["videos"]} == {"train", "validate", "test"}
    per_clip: dict[str, int] = {}
    for sentence in annotation["sentences"]:
        per_clip[sentence["video_id"]] = per_clip.get(sentence["video_id"], 0) + 1
    assert set(per_clip.values()) == {20}
    names = zipfile.ZipFile(sample_release / VIDEOS_ARCHIVE).namelist()
    assert all(name.startswith("video/video") and name.endswith(".mp4") for name in names)
    good = [v for v in raw["videos"] if not next(c for c in sample_clips() if c.video_id == v["video_id"]).defect]
    assert all(10 <= v["end time"] - v["start time"] <= 16 for v in good)


def test_corrupt_archive_member_is_recorded_not_raised(sample_release, tmp_path, copy_of):
    release = copy_of(sample_release)
    archive_path = release / VIDEOS_ARCHIVE
    with zipfile.ZipFile(archive_path) as archive:
        info = archive.getinfo("video/video1.mp4")
        data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw = bytearray(archive_path.read_bytes())
    raw[data_start + 5000] ^= 0xFF  # one flipped byte inside the stored member: its CRC no longer matches
    archive_path.write_bytes(bytes(raw))

    result = download_msr_vtt(tmp_path, config=MsrVttSourceConfig(source=str(release)), limit=4)

    statuses = {row.video_id: (row.status, row.error) for row in result.rows}
    assert statuses["video1"][0] == "extract_failed" and "CRC" in statuses["video1"][1]
    assert not (tmp_path / "train-video" / "video1.mp4").exists()  # nothing half-written
    assert [statuses[v][0] for v in ("video0", "video2", "video3")] == ["ok", "ok", "ok"]


def test_no_usable_clip_fails_loudly_after_recording_why(sample_release, tmp_path, copy_of):
    from prep_platform.lib.sources.msr_vtt import NoUsableClipsError

    release = copy_of(sample_release)
    with zipfile.ZipFile(release / VIDEOS_ARCHIVE, "w") as archive:
        archive.writestr("video/unrelated.mp4", b"")  # the archive holds none of the annotated clips
    with pytest.raises(NoUsableClipsError, match=r"none of the 3 selected clips is usable.*manifest.csv"):
        download_msr_vtt(tmp_path, config=MsrVttSourceConfig(source=str(release)), limit=3)
    assert {row.status for row in read_manifest(tmp_path / "manifest.csv")} == {"missing"}


def test_endpoint_credentials_are_never_written(loopback_hub, tmp_path, monkeypatch):
    secret_endpoint = loopback_hub.endpoint.replace("http://", "http://alice:s3cr3t-pw@")
    monkeypatch.setenv("HF_ENDPOINT", secret_endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_tokenThatMustNotLeak")
    out = tmp_path / "msr-vtt"
    download_msr_vtt(out, config=MsrVttSourceConfig(source="hub", repo_id="sample-org/MSR-VTT"), limit=3)
    written = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".json", ".csv")]
    assert any(p.parent.name == ".hub" for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        assert "s3cr3t-pw" not in text and "alice" not in text and "hf_tokenThatMustNotLeak" not in text, path
    report = json.loads((out / "download_report.json").read_text())
    assert report["provenance"]["endpoint"] == loopback_hub.endpoint


def test_a_source_that_fails_leaves_the_earlier_folder_byte_for_byte(sample_release, tmp_path):
    """A new source whose archive cannot be read is refused before anything of the earlier run is replaced (its
    annotation was copied over the earlier one first, describing clips the kept manifest does not have)."""
    out = tmp_path / "raw"
    download_msr_vtt(out, config=MsrVttSourceConfig(source=str(sample_release)), limit=None)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    other = tmp_path / "other-release"
    annotation = other / "raw_data" / "MSRVTT_data.json"
    annotation.parent.mkdir(parents=True)
    annotation.write_text(json.dumps(json.loads((sample_release / "raw_data" / "MSRVTT_data.json").read_text()), indent=2))
    (other / VIDEOS_ARCHIVE).write_bytes(b"not a zip archive")
    with pytest.raises(SourceError, match="not a readable zip archive"):
        download_msr_vtt(out, config=MsrVttSourceConfig(source=str(other)), limit=None)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
