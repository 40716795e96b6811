"""Panda-70M: instructions, a CSV with malformed rows, the balanced subset, and shards ingested end to end."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.files.latent_file import load_latent_file
from prep_platform.lib.stages.metadata import build_scenario_metadata, metadata_schema_problems
from prep_platform.lib.sources.panda70m import (
    CSV_COLUMNS,
    build_panda_subset,
    estimate_download,
    ingest_panda_shards,
    parse_panda_csv,
    write_instructions,
)
from prep_platform.lib.frames.stage import run_frame_stage
from prep_platform.lib.stages.latents import latent_items, run_latent_stage
from prep_platform.samples.panda70m import generate_panda_sample
from prep_platform.lib.scenarios import ScenarioLabeller, load_scenarios
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
from prep_platform_tests.support.layouts import layout_around
from prep_platform.lib.sources.panda70m import select_subset

LABELLER = ScenarioLabeller(load_scenarios())


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return path


def _row(video_id: str, captions: list[str], scores: list[float], labels: list[str] | None = None) -> list[str]:
    stamps = [[f"0:00:{10 * i:02d}.000", f"0:00:{10 * i + 5:02d}.250"] for i in range(len(captions))]
    return [video_id, f"https://www.youtube.com/watch?v={video_id}", repr(stamps), repr(captions), repr(scores),
            repr(labels or ["desirable"] * len(captions)), "[]"]


def test_malformed_rows_are_counted_with_line_numbers_and_literals_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = _write_csv(tmp_path / "p.csv", [
        _row("good1", ["a car drives on the highway"], [0.5]),
        ["evil", "u", f"__import__('pathlib').Path('{marker}').touch()", "['x']", "[0.5]", "['desirable']", "[]"],
        ["short", "u", "[['0:00:01.000', '0:00:05.000']]", "['a', 'b']", "[0.5]", "['desirable']", "[]"],
        ["notalist", "u", "{'a': 1}", "['a']", "[0.5]", "['desirable']", "[]"],
        ["badtime", "u", "[['0:00:09.000', '0:00:05.000']]", "['a']", "[0.5]", "['desirable']", "[]"],
        _row("good2", ["waves on a beach", "a forest river"], [0.6, 0.7]),
    ])
    clips, errors, rows = parse_panda_csv(path)
    assert rows == 6 and [c.video_id for c in clips] == ["good1", "good2", "good2"]
    assert [(e["line"], e["videoID"]) for e in errors] == [(3, "evil"), (4, "short"), (5, "notalist"), (6, "badtime")]
    assert "differ in length" in errors[1]["error"] and "expected a list" in errors[2]["error"]
    assert not marker.exists()


def test_subset_is_balanced_filtered_and_in_the_downloader_format(tmp_path):
    rows = []
    for i in range(12):
        rows.append(_row(f"u{i}", ["people walk down a busy city street", "a blurry clip"], [0.9 - i * 0.01, 0.9]))
        rows.append(_row(f"n{i}", ["a waterfall in the forest"], [0.8]))
        rows.append(_row(f"t{i}", ["a train pulls into the station"], [0.3 if i % 2 else 0.7]))
        rows.append(_row(f"c{i}", ["a crowd cheers at a concert"], [0.7], ["3_screen_in_screen" if i < 4 else "desirable"]))
    _write_csv(tmp_path / "panda70m_training_2m.csv", rows)
    report = build_panda_subset(tmp_path, LABELLER, total=20, min_matching_score=0.4)
    assert report["per_scenario"] == {"urban": 5, "nature": 5, "transport": 5, "crowd": 5}
    assert report["filtered"]["below_matching_score"] == 6 and report["filtered"]["not_desirable:3_screen_in_screen"] == 4
    assert report["filtered"]["no_scenario_match"] == 12  # "a blurry clip"
    clips, errors, _ = parse_panda_csv(tmp_path / "panda70m_subset.csv")  # the output reads back as a Panda CSV
    assert not errors and len(clips) == 20
    urban = sorted(c.video_id for c in clips if c.video_id.startswith("u"))
    assert urban == ["u0", "u1", "u2", "u3", "u4"]  # best matching score first
    estimate = report["estimate"]
    assert estimate["video_seconds"] == pytest.approx(20 * 5.25)
    assert estimate["estimated_bytes"] == int(20 * 5.25 * 0.75e6 / 8) and "0.75 Mbit/s" in estimate["assumptions"]


def test_ids_seen_in_earlier_shards_are_remembered_exactly_in_levels_of_hashes():
    import random

    from prep_platform.lib.sources.panda70m import SeenIds

    rng = random.Random(7)
    seen, reference = SeenIds(), set()
    seen.LEVEL_CAP = 64  # many full levels, as a million ids make with the real cap
    for _ in range(150):
        batch = [f"clip{rng.randrange(3000)}" for _ in range(rng.randrange(0, 40))]
        assert seen.contains(batch).tolist() == [vid in reference for vid in batch]
        seen.add(set(batch))
        reference |= set(batch)
    levels = seen._levels
    assert len(levels) > 5 and all(len(level) <= 64 and (level[:-1] <= level[1:]).all() for level in levels)


def test_estimate_of_nothing_is_zero():
    assert estimate_download([])["estimated_bytes"] == 0


def test_no_csv_means_no_subset(tmp_path):
    write_instructions(tmp_path)
    (tmp_path / "panda70m_subset.csv").write_text("left from an earlier run with a CSV\n")
    report = build_panda_subset(tmp_path, LABELLER)
    assert report["state"] == "no_csv_present" and report["estimate"]["clips"] == 0
    assert json.loads((tmp_path / "panda70m_subset_report.json").read_text())["state"] == "no_csv_present"
    assert not (tmp_path / "panda70m_subset.csv").exists()  # an old subset no longer vouched for by any CSV


def test_instructions_cover_the_manual_steps(tmp_path):
    text = write_instructions(tmp_path).read_text()
    for needed in ("video2dataset --url_list=", "--url_col=url", "--clip_col=timestamp", "2.4M", "~36 TB",
                   "Non-commercial", "429", "matching_score", "desirable_filtering", "00000/0000000_00000"):
        assert needed in text, needed


def test_shards_are_ingested_end_to_end_beside_msr_vtt(msr_vtt_raw_dir, tmp_path):
    panda = generate_panda_sample(tmp_path / "panda")
    # One more shard clip that is too short and one without a caption file: recorded, not dropped.
    (panda / "shards" / "00002").mkdir(parents=True)
    write_clip(panda / "shards" / "00002" / "000010000.mp4", seconds=2.0)
    (panda / "shards" / "00002" / "000010000.txt").write_text("a car on the road\n")
    write_clip(panda / "shards" / "00002" / "000010001.mp4", seconds=8.0)
    summary = ingest_panda_shards(panda)
    assert summary["counts"] == {"no_caption": 1, "ok": 4, "too_short": 1}
    assert summary["shards"] == 3  # 00000/ (files), 00001.tar (webdataset, read in place), 00002/

    config = FrameConfig(width=144, height=96, frames=9)
    layout = layout_around(msr_vtt_raw_dir, panda_dir=panda, prepared=tmp_path / "prepared", frame_config=config)
    result = build_scenario_metadata(layout, limit=None)
    assert metadata_schema_problems(result.document) == []
    records = [r for split in ("train", "validation") for r in result.document[split]]
    panda_records = [r for r in records if r["source"]["dataset"] == "panda-70m"]
    assert {r["scenario"] for r in panda_records} == {"urban", "nature", "transport", "crowd"}
    assert all(r["video_id"].startswith("panda_") and "msr_vtt_split" not in r["source"] for r in panda_records)
    assert result.counts["per_dataset"]["panda-70m"] == 6
    excluded = {e["video_id"]: e["reason"] for e in result.report["excluded"]}
    assert excluded["panda_000010000"] == "clip_too_short" and excluded["panda_000010001"] == "clip_no_caption"

    # The Panda clips flow through the frame and latent stages like any other.
    frames = run_frame_stage(panda_records, layout, workers=0)
    assert frames.counts == {"ok": 4}
    encoder = VaeEncoder(VaeSettings(preset="tiny"))
    latents = run_latent_stage(latent_items(frames.samples, layout), layout, encoder, workers=0)
    assert latents.counts == {"encoded": 4}
    header, arrays = load_latent_file(layout.latent(panda_records[0]["scenario"], panda_records[0]["video_id"]))
    assert header.video_id == panda_records[0]["video_id"] and np.isfinite(arrays["latent_mean"]).all()


def test_cli_instructions_only_and_subset(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "panda"
    done = subprocess.run([sys.executable, "-m", "prep_platform.data_prep.download_panda70m", "--output-dir", str(out),
                           "--instructions-only"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and (out / "README.md").exists() and not (out / "panda70m_subset.csv").exists()
    shutil.copy(generate_panda_sample(tmp_path / "sample") / "panda70m_sample.csv", out / "mine.csv")
    done = subprocess.run([sys.executable, "-m", "prep_platform.data_prep.download_panda70m", "--output-dir", str(out),
                           "--total", "40"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["subset"]
    assert summary["rows_failed"] == 2 and summary["failed_lines"][0].startswith("mine.csv:18:")
    assert len(set(summary["per_scenario"].values())) == 1


def test_every_kind_of_broken_shard_file_becomes_that_clips_status(tmp_path):
    panda = generate_panda_sample(tmp_path / "panda")
    shard = panda / "shards" / "00003"
    shard.mkdir(parents=True)
    good_clip = next((panda / "shards" / "00000").glob("*.mp4"))
    cases = {
        "000030000": ("dangling", "missing"),
        "000030001": ("not_json", "bad_metadata"),
        "000030002": ("json_list", "bad_metadata"),
        "000030003": ("utf16_caption", "bad_caption"),
        "000030004": ("latin1_caption", "bad_caption"),
        "000030005": ("link_outside", "unsafe_path"),
    }
    outside = tmp_path / "outside.mp4"
    shutil.copyfile(good_clip, outside)
    for stem, (kind, _) in cases.items():
        video = shard / f"{stem}.mp4"
        if kind == "dangling":
            video.symlink_to(shard / "removed_since.mp4")  # inside the shard folder, but gone
        elif kind == "link_outside":
            video.symlink_to(outside)
        else:
            shutil.copyfile(good_clip, video)
        caption = "a car drives on the highway\n"
        if kind == "not_json":
            video.with_suffix(".json").write_text("{not json")
        elif kind == "json_list":
            video.with_suffix(".json").write_text('["a", "list"]')
        if kind == "utf16_caption":
            video.with_suffix(".txt").write_bytes(caption.encode("utf-16"))
        elif kind == "latin1_caption":
            video.with_suffix(".txt").write_bytes("un café sur la route\n".encode("latin-1"))
        else:
            video.with_suffix(".txt").write_text(caption)

    summary = ingest_panda_shards(panda)  # before the fix: FileNotFoundError, JSONDecodeError, AttributeError, ...
    failed = {Path(f["reason"].split(":")[0]).stem: f for f in summary["failed"]}
    for stem, (kind, status) in cases.items():
        assert failed[stem]["status"] == status, kind
        assert str(shard / stem) in failed[stem]["reason"], kind  # the file is named
    assert summary["counts"]["ok"] == 4  # the sample's four good clips went on
    rows = (panda / "ingested" / "00003.csv").read_text().splitlines()
    assert len(rows) == 1 + len(cases)  # the shard's own manifest: one row per clip, failed ones included


def test_non_finite_matching_scores_are_filtered_with_a_reason(tmp_path):
    header = "videoID,url,timestamp,caption,matching_score,desirable_filtering,shot_boundary_detection\n"
    caption = "a car drives down the highway past a truck"
    # 'nan' (a string float() accepts), 1e999 (a literal that is inf), and an ordinary score.
    rows = [f'v{i},u,"[[\'0:00:01.000\', \'0:00:09.000\']]","[\'{caption}\']","[{score}]","[\'desirable\']",[]\n'
            for i, score in enumerate(["'nan'", "1e999", "0.5"])]
    path = tmp_path / "p.csv"
    path.write_text(header + "".join(rows))
    clips, errors, _ = parse_panda_csv(path)
    assert errors == [] and len(clips) == 3
    result = select_subset(clips, LABELLER, scenarios=("transport",), total=10)
    assert [c.video_id for c, _ in result.selected] == ["v2"]  # inf would have ranked first, nan passed the threshold
    assert result.filtered["non_finite_matching_score"] == 2


def test_a_row_over_the_field_limit_does_not_shift_the_next_rows_line(tmp_path):
    import csv

    header = "videoID,url,timestamp,caption,matching_score,desirable_filtering,shot_boundary_detection\n"
    ok = "v{n},u,\"[['0:00:01.000', '0:00:09.000']]\",\"['a car']\",[0.5],\"['desirable']\",[]\n"
    huge = "big,u,\"[['0:00:01.000', '0:00:09.000']]\",\"['" + "x" * (csv.field_size_limit() + 10) + "']\",[0.5],\"['desirable']\",[]\n"
    bad_next = "v9,u,not a list,\"['a car']\",[0.5],\"['desirable']\",[]\n"
    path = tmp_path / "p.csv"
    path.write_text(header + ok.format(n=1) + huge + bad_next + ok.format(n=2))
    clips, errors, _ = parse_panda_csv(path)
    assert [(e["line"], e["videoID"]) for e in errors] == [(3, ""), (4, "v9")]
    assert [(c.video_id, c.line) for c in clips] == [("v1", 2), ("v2", 5)]
