"""VATEX through the real huggingface_hub client against the loopback Hub: annotation, a partial video mirror,
a dropped connection, retry of failures only; and the evaluation prompts."""

from __future__ import annotations

import json

import cv2
import pytest

from prep_platform.samples.vatex import generate_vatex_sample
from prep_platform.lib.sources.vatex import (
    VatexError,
    VatexSourceConfig,
    build_vatex_eval_prompts,
    download_vatex,
    load_vatex_annotation,
    parse_video_id,
)
from prep_platform_tests.support.hub_server import Fault

REPO = "sample-org/VATEX"


@pytest.fixture(scope="module")
def vatex_release(tmp_path_factory):
    return generate_vatex_sample(tmp_path_factory.mktemp("vatex") / "release")


@pytest.fixture
def vatex_hub(loopback_hub, vatex_release):
    loopback_hub.repos[REPO] = vatex_release
    return loopback_hub


def _sample_config(tmp_path) -> VatexSourceConfig:
    """The embedded sample as the pipeline passes it: placed first, then read as a release folder."""
    from prep_platform.samples.vatex import generate_vatex_sample

    return VatexSourceConfig(source="sample", sample_release=generate_vatex_sample(tmp_path / "sample-release"))


def _config(**kwargs) -> VatexSourceConfig:
    return VatexSourceConfig(source="hub", repo_id=REPO, **kwargs)


def test_video_ids_split_from_the_right():
    assert parse_video_id("nJ6K_PT1uwe8_000047_000057") == ("nJ6K_PT1uwe8", 47.0, 57.0)
    assert parse_video_id("a-b_c_000001_000011") == ("a-b_c", 1.0, 11.0)
    for bad in ("noTimes", "abc_12_x", "abc_000020_000010"):
        with pytest.raises(ValueError):
            parse_video_id(bad)


def test_download_records_ok_unavailable_and_failed_clips(vatex_hub, tmp_path):
    result = download_vatex(tmp_path, config=_config(), split="validation", limit=50, download_videos=True)
    assert result.video_counts == {"failed": 1, "ok": 8, "unavailable": 1}
    by_status = {c["video_status"]: c for c in result.clips}
    assert "not in the mirror" in by_status["unavailable"]["reason"]
    assert "not usable" in by_status["failed"]["reason"]
    ok = [c for c in result.clips if c["video_status"] == "ok"]
    assert all((tmp_path / "videos" / f"{c['video_id']}.mp4").stat().st_size == c["bytes"] for c in ok)
    first = result.clips[0]
    assert (first["youtube_id"], first["start_s"], first["end_s"]) == ("nJ6K_PT1uwe8", 7.0, 17.0)
    assert first["en_captions"] == 10 and first["zh_captions"] == 10
    report = json.loads((tmp_path / "download_report.json").read_text())
    assert report["available_share"] == 0.8 and report["storage_bytes"] > sum(c["bytes"] for c in ok)
    assert report["provenance"]["endpoint"] == vatex_hub.endpoint


def test_annotation_only_without_download_videos(vatex_hub, tmp_path):
    result = download_vatex(tmp_path, config=_config(), limit=3)
    assert result.video_counts == {"not_requested": 3}
    assert not (tmp_path / "videos").exists()


def test_dropped_connection_fails_the_clip_and_retry_failed_re_attempts_only_failures(vatex_hub, vatex_release, tmp_path):
    victim = "videos/a-Zq3_x_9kLm_000017_000027.mp4"
    vatex_hub.faults[victim] = Fault(after_bytes=500, then_unavailable=True)
    first = download_vatex(tmp_path, config=_config(), download_videos=True)
    status = {c["video_id"]: c for c in first.clips}
    assert status["a-Zq3_x_9kLm_000017_000027"]["video_status"] == "failed"
    assert "interrupted" in status["a-Zq3_x_9kLm_000017_000027"]["reason"]
    assert first.video_counts == {"failed": 2, "ok": 7, "unavailable": 1}

    vatex_hub.unavailable.clear()
    requests_before = len(vatex_hub.log)
    again = download_vatex(tmp_path, config=_config(), download_videos=True)  # no retry asked: nothing re-attempted
    assert again.video_counts == first.video_counts
    assert not any("/videos/" in e.path for e in vatex_hub.log[requests_before:])

    requests_before = len(vatex_hub.log)
    retried = download_vatex(tmp_path, config=_config(), download_videos=True, retry_failed=True)
    status = {c["video_id"]: c for c in retried.clips}
    assert status["a-Zq3_x_9kLm_000017_000027"]["video_status"] == "ok"
    assert status["a-Zq3_x_9kLm_000017_000027"]["attempts"] == 2
    touched = {e.path.rsplit("/", 1)[-1] for e in vatex_hub.log[requests_before:] if "/videos/" in e.path}
    failed_before = {f"{c['video_id']}.mp4" for c in first.clips if c["video_status"] == "failed"}
    assert touched == failed_before  # only failures; ok and unavailable clips were not asked for again
    assert retried.video_counts == {"failed": 1, "ok": 8, "unavailable": 1}


def test_missing_repo_settings_and_bad_split_are_clear_errors(tmp_path):
    with pytest.raises(VatexError, match="no canonical Hub repo: pass --repo-id"):
        download_vatex(tmp_path, config=VatexSourceConfig(source="hub"))
    with pytest.raises(VatexError, match="unknown VATEX split"):
        download_vatex(tmp_path, config=_sample_config(tmp_path), split="dev")
    with pytest.raises(VatexError, match="sample release was not placed"):
        download_vatex(tmp_path, config=VatexSourceConfig(source="sample"))


def test_bad_annotation_names_the_file_and_entry(tmp_path):
    path = tmp_path / "vatex_validation_v1.0.json"
    path.write_text(json.dumps([{"videoID": "ok_000001_000011", "enCap": ["a"]}, {"videoID": "broken", "enCap": []},
                                {"enCap": ["no id"]}]))
    with pytest.raises(VatexError) as error:
        load_vatex_annotation(path)
    assert str(path) in str(error.value) and "[2].videoID" in str(error.value)
    path.write_text(json.dumps([{"videoID": "broken", "enCap": []}]))
    with pytest.raises(VatexError, match=r"\[0\].videoID: videoID 'broken' is not"):
        load_vatex_annotation(path)


def test_eval_prompts_have_both_languages_labels_and_images_for_clips_with_video(tmp_path):
    download_vatex(tmp_path / "raw", config=_sample_config(tmp_path), download_videos=True)
    document = build_vatex_eval_prompts(tmp_path / "raw", width=144, height=96, images_dir=tmp_path / "img")
    prompts = {p["video_id"]: p for p in document["prompts"]}
    assert len(prompts) == 10
    press = prompts["nJ6K_PT1uwe8_000007_000017"]
    assert press["scenario"] == "press_room" and "新闻发布会" in press["prompt_zh"]
    assert press["prompt_en"] in press["captions"]["en"] and len(press["captions"]["zh"]) == 10
    assert cv2.imread(press["image_path"]).shape == (96, 144, 3)
    unavailable = next(p for p in prompts.values() if p["video_status"] == "unavailable")
    assert unavailable["image_path"] is None and unavailable["prompt_en"]  # a prompt without an image is still a prompt
    cooking = prompts["hG6fD5sA4_qW_000087_000097"]
    assert cooking["scenario"] is None and cooking["label_reason"] == "other_content: cooking"  # ten captions, read as cooking
    summary = document["summary"]
    assert summary["unlabelled"]["en"] == 1 and sum(row["zh"] for row in summary.values()) == 10
    assert sum(row["with_image"] for row in summary.values()) == 8


def test_an_unconfigured_source_leaves_an_earlier_download_byte_for_byte(tmp_path):
    """Switching to `hub` without a VATEX repo deleted the sample's manifest and rewrote its report as
    not_configured; on a fresh folder the state is still recorded."""
    from prep_platform.lib import pipeline
    from prep_platform.lib.settings import PrepSettings
    from prep_platform.samples import DEMO_SAMPLE

    sample = PrepSettings(data_root=str(tmp_path / "data"), msr_vtt_source="sample", vatex_limit=3)
    assert pipeline.fetch_vatex(sample, sample.layout(), sample=DEMO_SAMPLE) is not None
    folder = sample.layout().vatex.root
    before = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    hub = sample.with_values(msr_vtt_source="hub")
    assert not pipeline.vatex_configured(hub)
    assert pipeline.fetch_vatex(hub, hub.layout(), sample=DEMO_SAMPLE) is None
    assert {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before

    fresh = PrepSettings(data_root=str(tmp_path / "fresh"), msr_vtt_source="hub")
    assert pipeline.fetch_vatex(fresh, fresh.layout(), sample=DEMO_SAMPLE) is None
    assert json.loads(fresh.layout().vatex.report.read_text())["state"] == "not_configured"
