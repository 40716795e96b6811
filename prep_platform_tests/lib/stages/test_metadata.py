"""Scenario metadata: records, exclusions with reasons, a deterministic stratified disjoint split."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from prep_platform.lib.source_files import ManifestRow, write_manifest
from prep_platform.lib.stages.metadata import (
    build_scenario_metadata,
    clips_in_both_splits,
    metadata_schema_problems,
    validation_count,
    validation_share_problems,
    write_scenario_metadata,
)
from prep_platform.lib.scenarios import DEFAULT_SCENARIOS
from prep_platform.lib.layout import metadata_report_path
from prep_platform_tests.support.layouts import layout_around


def test_sample_metadata_records_and_exclusions(msr_vtt_raw_dir, tmp_path):
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir, prepared="data/prepared"), limit=None)
    document = result.document
    assert set(document) == {"train", "validation"}
    assert metadata_schema_problems(document) == []
    records = document["train"] + document["validation"]
    assert {r["scenario"] for r in records} == set(DEFAULT_SCENARIOS)
    for record in records:
        # No frame-dependent path: an image or latent path written here would name the metadata run's frame
        # configuration, not the one the frames are made at (the layout places them when they are made).
        assert "latent_path" not in record and "image_path" not in record
        assert record["prompt_variants"][0] == record["caption"]
        assert record["label"]["supporting_captions"] >= 2
        assert record["source"]["fps"] > 0 and record["source"]["frame_count"] > 0
    excluded = {item["video_id"]: item["reason"] for item in result.report["excluded"]}
    assert sorted(Counter(excluded.values()).items()) == [
        ("clip_empty", 1), ("clip_missing", 1), ("clip_too_short", 1), ("clip_truncated", 1),
        ("other_content: cooking", 1), ("other_content: video game", 1),
    ]
    # Nothing silently dropped: every manifest clip is either a record or an exclusion.
    assert result.counts["clips_considered"] == len(records) + len(excluded)


def test_split_is_deterministic_stratified_and_disjoint(msr_vtt_raw_dir):
    first = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None, validation_ratio=0.25, seed=3)
    second = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None, validation_ratio=0.25, seed=3)
    assert first.document == second.document
    assert clips_in_both_splits(first.document) == []
    problems, table = validation_share_problems(first.document, 0.25)
    assert problems == []
    assert all(row["validation"] == validation_count(row["train"] + row["validation"], 0.25) for row in table.values())
    other_seed = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None, validation_ratio=0.25, seed=4)
    assert {r["video_id"] for r in other_seed.document["validation"]} != {
        r["video_id"] for r in first.document["validation"]
    }


def _synthetic_raw(tmp_path, n_clips: int):
    """An annotation + manifest at a scale the sample does not reach (no video files needed)."""
    from prep_platform.benchmarks.scenario_metadata import write_synthetic_msr_vtt

    return write_synthetic_msr_vtt(tmp_path / "raw", n_clips)


def test_per_scenario_validation_share_within_one_clip_at_scale(tmp_path):
    raw = _synthetic_raw(tmp_path, 600)
    # The split is under test, not the labeller: the keyword vote labels the synthetic captions in no time.
    result = build_scenario_metadata(layout_around(raw), limit=None, validation_ratio=0.1, labeller_kind="keywords")
    problems, table = validation_share_problems(result.document, 0.1)
    assert problems == [] and len(table) == len(DEFAULT_SCENARIOS)
    assert sum(row["validation"] for row in table.values()) == pytest.approx(0.1 * result.counts["labelled"], abs=5)


def test_limit_takes_the_first_manifest_clips(msr_vtt_raw_dir):
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=10)
    assert result.counts["clips_considered"] == 10
    ids = {r["video_id"] for split in ("train", "validation") for r in result.document[split]}
    assert ids <= {f"video{i}" for i in range(10)}


def test_written_files_are_complete_and_say_how_they_were_made(msr_vtt_raw_dir, tmp_path):
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None)
    from prep_platform.lib.files.metadata_store import read_document
    from prep_platform.lib.stages.metadata import SEED_FIELDS

    # The seed names the JSON: the store is written beside it, and the JSON is its view in the seed's schema.
    output = write_scenario_metadata(result, tmp_path / "metadata" / "scenario_metadata.json")
    assert output == tmp_path / "metadata" / "scenario_metadata.parquet"
    assert read_document(output) == result.document
    view = json.loads((tmp_path / "metadata" / "scenario_metadata.json").read_text())
    for split in ("train", "validation"):
        assert [r["video_id"] for r in view[split]] == [r["video_id"] for r in result.document[split]]
        for shown, record in zip(view[split], result.document[split]):
            assert list(shown)[:len(SEED_FIELDS)] == list(SEED_FIELDS)
            assert shown["built"] == {"image_path": False, "latent_path": False}  # planned: no stage ran yet
            assert shown["latent_path"] == str(tmp_path / "prepared" / "latents" / "cogvideox" / record["scenario"] / f"{record['video_id']}.npz")
            assert {k: v for k, v in shown.items() if k not in ("image_path", "latent_path", "built")} == record
    report = json.loads(metadata_report_path(output).read_text())
    assert report["inputs"]["annotation_sha256"] and report["inputs"]["scenarios_fingerprint"]
    assert report["settings"]["validation_ratio"] == 0.1 and report["package_version"]
    assert not list(output.parent.glob(".*.tmp"))


def test_the_store_lists_every_clip_kept_out_beside_a_report_that_shows_the_first(msr_vtt_raw_dir, tmp_path, monkeypatch):
    import prep_platform.lib.stages.metadata as stage
    from prep_platform.lib.files.metadata_store import read_document
    from prep_platform.lib.layout import metadata_excluded_path

    monkeypatch.setattr(stage, "EXCLUDED_IN_REPORT", 2)
    monkeypatch.setattr(stage, "CHUNK_CLIPS", 3)  # the sample's clips labelled three at a time, as a large set is
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None)
    output = write_scenario_metadata(result, tmp_path / "metadata" / "scenario_metadata.parquet")
    report = json.loads(metadata_report_path(output).read_text())
    listed = [json.loads(line) for line in metadata_excluded_path(output).read_text().splitlines()]
    assert report["counts"]["excluded"] == len(listed) > 2 and report["excluded"] == listed[:2]
    assert report["excluded_list"] == str(metadata_excluded_path(output))
    assert Counter(item["reason"] for item in listed) == report["counts"]["excluded_by_reason"]
    # The same records as one chunk labels: chunking changes nothing but memory.
    monkeypatch.setattr(stage, "CHUNK_CLIPS", 10_000)
    assert read_document(output) == build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None).document
    view = json.loads(output.with_suffix(".json").read_text())
    assert sum(n for shards in view["records_per_shard"].values() for splits in shards.values() for n in splits.values()) \
        == report["counts"]["train"] + report["counts"]["validation"]
    result.release()
    assert not result.spill.folder.exists() and not result.excluded.path.exists()
    with pytest.raises(RuntimeError, match="released"):
        result.document


def test_schema_problems_are_found(msr_vtt_raw_dir):
    document = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None).document
    broken = json.loads(json.dumps(document))
    del broken["train"][0]["caption"]
    broken["train"][1]["prompt_variants"] = ["something else"]
    broken["validation"][0]["video_path"] = ""
    problems = metadata_schema_problems(broken)
    assert any("train[0].caption" in p for p in problems)
    broken["train"][0]["caption"] = "x"
    broken["train"][0]["prompt_variants"] = ["x"]
    problems = metadata_schema_problems(broken)
    assert any("train[1].prompt_variants" in p for p in problems)
    assert any("validation[0].video_path" in p for p in problems)


def test_clip_in_both_splits_is_found(msr_vtt_raw_dir):
    document = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None).document
    document["validation"].append(dict(document["train"][0], split="validation"))
    assert clips_in_both_splits(document) == [document["train"][0]["video_id"]]


def test_unknown_clip_in_manifest_is_excluded_with_reason(msr_vtt_raw_dir):
    # A manifest row whose clip has no captions in the annotation.
    from prep_platform.lib.source_files import read_manifest

    rows = read_manifest(msr_vtt_raw_dir / "manifest.csv")
    rows.append(ManifestRow("video999", "x.mp4", 10, 30.0, 300, 320, 240, 10.0, "ok", "", 9, "train"))
    write_manifest(msr_vtt_raw_dir / "manifest.csv", rows)
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None)
    assert {"video_id": "video999", "reason": "no_scenario_match",
            "detail": "no captions (category vehicles/autos)"} in result.report["excluded"]
    keywords = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None, labeller_kind="keywords")
    assert {"video_id": "video999", "reason": "no_scenario_match",
            "detail": "no scenario keyword in any of 0 captions (category vehicles/autos)"} in keywords.report["excluded"]


def test_nothing_labelled_fails_instead_of_writing_an_empty_file(msr_vtt_raw_dir, tmp_path):
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text("scenarios:\n  underwater:\n    keywords: [submarine, coral]\n")
    with pytest.raises(ValueError, match=r"none of the \d+ clips could be labelled.*no_scenario_match"):
        build_scenario_metadata(layout_around(msr_vtt_raw_dir), scenarios=scenarios, limit=None)


def test_captions_become_single_line_prompts_and_a_clip_without_one_is_kept_out(msr_vtt_raw_dir, tmp_path):
    """Prompts end up one per line in trainers' prompts.txt: separators and control characters become spaces (the
    caption as written stays in the record), and a clip whose every caption is blank is excluded as empty_caption."""
    from prep_platform.lib.stages.metadata import EMPTY_CAPTION, load_metadata_document
    from prep_platform.lib.stages.training_index import read_training_index

    first = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None).document
    blank_id, hostile_id = first["train"][0]["video_id"], first["train"][1]["video_id"]
    annotation_path = msr_vtt_raw_dir / "MSRVTT_data.json"
    annotation = json.loads(annotation_path.read_text())
    for sentence in annotation["sentences"]:
        if sentence["video_id"] == blank_id:
            sentence["caption"] = " \t\u2028 "
        elif sentence["video_id"] == hostile_id:
            sentence["caption"] = sentence["caption"].replace(" ", "\u2028", 1).replace(" ", "\x1b ", 1) + "\u0085"
    annotation_path.write_text(json.dumps(annotation, ensure_ascii=False))
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None)
    excluded = {item["video_id"]: item for item in result.report["excluded"]}
    assert excluded[blank_id]["reason"] == EMPTY_CAPTION and blank_id in excluded[blank_id]["detail"]
    document = result.document  # gathered from the build's spill: each access reads it afresh
    record = next(r for split in ("train", "validation") for r in document[split] if r["video_id"] == hostile_id)
    assert all("\u2028" not in p and "\x1b" not in p and "\u0085" not in p and p == " ".join(p.split())
               for p in record["prompt_variants"])
    assert "\u2028" in record["original_caption"] and " ".join(record["original_caption"].replace("\x1b", " ").split()) == record["caption"]
    assert metadata_schema_problems(document) == []
    # A hand edit that puts a line break back is a schema problem naming the clip.
    record["prompt_variants"][-1] = "two\nlines"
    assert any(hostile_id in p and "line break" in p for p in metadata_schema_problems(document))
    # Files that are not UTF-8 or not JSON are refused naming the file.
    latin = tmp_path / "scenario_metadata.json"
    latin.write_bytes('{"train": [{"caption": "caf\u00e9"}]}'.encode("latin-1"))
    with pytest.raises(ValueError, match=rf"{latin}: not UTF-8 text \(byte 0xe9"):
        load_metadata_document(latin)
    index = tmp_path / "training_index.parquet"
    index.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")  # not Parquet: refused naming the file
    with pytest.raises(ValueError, match=rf"{index}: not a training index"):
        read_training_index(index)
