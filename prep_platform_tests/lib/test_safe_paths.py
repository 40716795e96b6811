"""Identifiers from datasets never place a file outside its root: MSR-VTT video_id, VATEX videoID, Panda-70M
shard keys and folder names, scenario names, and ids in a hand-edited metadata file. Each hostile id becomes
the clip's status `unsafe_id` with the reason, the other clips go on, and nothing is written outside the root."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.stages.metadata import build_scenario_metadata
from prep_platform.lib.sources.msr_vtt import MsrVttSourceConfig, download_msr_vtt
from prep_platform.lib.sources.panda70m import ingest_panda_shards
from prep_platform.lib.frames.stage import run_frame_stage
from prep_platform.lib.safe_paths import UnsafeIdError, check_id, path_inside, unsafe_id_reason
from prep_platform.samples.panda70m import generate_panda_sample
from prep_platform.samples.vatex import ANNOTATION_FILE, generate_vatex_sample
from prep_platform.lib.scenarios import ScenarioConfigError, load_scenarios
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.sources.vatex import VatexSourceConfig, build_vatex_eval_prompts, download_vatex
from prep_platform_tests.support.layouts import layout_around


def hostile_ids(outside: Path) -> dict[str, str]:
    """The kinds of id the issue names, each aimed at `outside` where a path can be."""
    return {
        "parent": "../../../escape",
        "absolute": f"{outside}/pwned",
        "nested": "a/b",
        "nul": "nul\x00byte",
        "long": "x" * 300,
        "division_slash": "look\u2215alike",  # U+2215 looks like '/'
        "fullwidth_solidus": "look\uff0falike",  # U+FF0F
        "dot_dot": "..",
        "backslash": "..\\..\\win",
    }


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("value", list(hostile_ids(Path("/tmp/outside")).values()) + ["", ".hidden", "a b", 7])
def test_unsafe_ids_are_refused_with_a_reason(value):
    reason = unsafe_id_reason(value)
    assert reason
    with pytest.raises(UnsafeIdError):
        check_id(value, "video_id")


@pytest.mark.parametrize("value", ["video7", "nJ6K_PT1uwe8_000047_000057", "a-b.c", "panda_000010000", "x" * 128])
def test_ordinary_ids_pass(value):
    assert unsafe_id_reason(value) is None and check_id(value) == value


def test_a_link_that_leaves_the_root_is_refused(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeIdError, match="outside"):
        path_inside(tmp_path / "root", "link", "x.png")
    assert path_inside(tmp_path / "root", "ok", "x.png") == tmp_path / "root" / "ok" / "x.png"


# --- VATEX ------------------------------------------------------------------------------------------------------


def _vatex_release_with_hostile_ids(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The sample release plus one entry per hostile id (with the `_start_end` suffix VATEX requires) and, where
    a mirror path can be made to resolve to a real clip, that clip: the download would have found it."""
    release = generate_vatex_sample(tmp_path / "deep" / "er" / "release")
    outside = tmp_path / "outside"
    ids = {kind: f"{value}_000001_000011" for kind, value in hostile_ids(outside).items()}
    entries = json.loads((release / ANNOTATION_FILE).read_text())
    good_clip = next((release / "videos").glob("*.mp4"))
    for video_id in ids.values():
        entries.insert(0, {"videoID": video_id, "enCap": ["a man speaks at a press conference"] * 3, "chCap": ["一名男子"]})
        if "\x00" in video_id or len(video_id) > 200:
            continue
        source = release / "videos" / f"{video_id}.mp4"
        try:
            source.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(good_clip, source)
        except OSError:
            pass
    (release / ANNOTATION_FILE).write_text(json.dumps(entries, ensure_ascii=False))
    return release, ids


def test_vatex_local_source_refuses_hostile_video_ids(tmp_path):
    release, ids = _vatex_release_with_hostile_ids(tmp_path)
    before = files_under(tmp_path)
    out = tmp_path / "deep" / "er" / "out" / "vatex"
    result = download_vatex(out, config=VatexSourceConfig(source=str(release)), limit=None, download_videos=True)
    by_id = {c["video_id"]: c for c in result.clips}
    for kind, video_id in ids.items():
        assert by_id[video_id]["video_status"] == "unsafe_id", kind
        assert by_id[video_id]["reason"] and by_id[video_id]["video_path"] is None, kind
    assert result.video_counts["ok"] == 8  # the sample's own clips went on
    assert result.video_counts["unsafe_id"] == len(ids)
    written = files_under(tmp_path) - before
    assert written and all(out in p.parents for p in written), sorted(map(str, written - {p for p in written if out in p.parents}))

    # The evaluation prompts skip them too: no conditioning image outside the images folder.
    before = files_under(tmp_path)
    images = tmp_path / "deep" / "er" / "eval" / "images"
    document = build_vatex_eval_prompts(out, width=144, height=96, images_dir=images)
    prompts = {p["video_id"]: p for p in document["prompts"]}
    assert all(prompts[v]["image_status"].startswith("unsafe_id") and prompts[v]["image_path"] is None for v in ids.values())
    assert all(images in p.parents for p in files_under(tmp_path) - before)


def test_vatex_hub_mirror_refuses_hostile_video_ids(loopback_hub, tmp_path):
    release, ids = _vatex_release_with_hostile_ids(tmp_path)
    loopback_hub.repos["sample-org/VATEX"] = release
    before = files_under(tmp_path)
    out = tmp_path / "deep" / "er" / "out" / "vatex"
    result = download_vatex(out, config=VatexSourceConfig(source="hub", repo_id="sample-org/VATEX"), limit=None,
                            download_videos=True)
    statuses = {c["video_id"]: c["video_status"] for c in result.clips}
    assert all(statuses[v] == "unsafe_id" for v in ids.values())
    assert result.video_counts["ok"] == 8
    written = files_under(tmp_path) - before
    assert all(out in p.parents for p in written)  # mp4s and the .hub bookkeeping alike
    # Never even asked for: a hostile id is not sent to the mirror.
    assert not [e for e in loopback_hub.log if "escape" in e.path or "pwned" in e.path or "alike" in e.path]


# --- MSR-VTT ------------------------------------------------------------------------------------------------------


def test_msr_vtt_hostile_video_ids_are_recorded_and_the_rest_goes_on(sample_release, tmp_path):
    release = tmp_path / "release"
    shutil.copytree(sample_release, release)
    annotation_path = release / "raw_data" / "MSRVTT_data.json"
    annotation = json.loads(annotation_path.read_text())
    ids = hostile_ids(tmp_path / "outside")
    for n, video_id in enumerate(ids.values()):
        annotation["videos"].insert(0, {**annotation["videos"][0], "video_id": video_id, "id": 10_000 + n})
        annotation["sentences"].append({"caption": "a man speaks at a press conference", "video_id": video_id, "sen_id": 90_000 + n})
    annotation_path.write_text(json.dumps(annotation))
    # The look-alike ids also exist in the archive, so before the fix they were extracted.
    with zipfile.ZipFile(release / "MSRVTT_Videos.zip", "a") as archive:
        first = next(i for i in archive.infolist() if i.filename.endswith(".mp4"))
        data = archive.read(first)
        for video_id in (ids["division_slash"], ids["fullwidth_solidus"]):
            archive.writestr(f"video/{video_id}.mp4", data)
    before = files_under(tmp_path)
    out = tmp_path / "data" / "raw" / "msr-vtt"
    result = download_msr_vtt(out, config=MsrVttSourceConfig(source=str(release)), limit=None)
    by_id = {row.video_id: row for row in result.rows}
    for kind, video_id in ids.items():
        assert by_id[video_id].status == "unsafe_id" and by_id[video_id].error, kind
        assert by_id[video_id].path == "" and by_id[video_id].bytes is None, kind
    assert result.counts["ok"] >= 20
    assert all(out in p.parents for p in files_under(tmp_path) - before)

    # Scenario metadata keeps them out with the reason.
    metadata = build_scenario_metadata(layout_around(out, prepared=tmp_path / "data" / "prepared"), limit=None)
    excluded = {e["video_id"]: e["reason"] for e in metadata.report["excluded"]}
    assert {excluded[v] for v in ids.values()} == {"clip_unsafe_id"}


# --- Panda-70M ----------------------------------------------------------------------------------------------------


def test_panda_shard_keys_and_folders_never_leave_the_root(tmp_path):
    panda = generate_panda_sample(tmp_path / "data" / "raw" / "panda70m")
    outside = tmp_path / "outside"
    shard = panda / "shards" / "00007"
    shard.mkdir(parents=True)
    hostile = {**hostile_ids(outside), "panda_style": f"/../../{outside}/x"}
    for n, key in enumerate(hostile.values()):
        stem = shard / f"0000700{n:02d}"
        write_clip(stem.with_suffix(".mp4"), seconds=7.0)
        stem.with_suffix(".txt").write_text("a car drives down the highway\n")
        stem.with_suffix(".json").write_text(json.dumps({"key": key, "caption": "a car"}))
    # A shard folder whose own name is unsafe.
    bad_folder = panda / "shards" / "bad name"
    bad_folder.mkdir()
    write_clip(bad_folder / "000080000.mp4", seconds=7.0)
    (bad_folder / "000080000.txt").write_text("a crowd cheers\n")

    summary = ingest_panda_shards(panda)
    assert summary["counts"]["ok"] == 4 and summary["counts"]["unsafe_id"] == len(hostile) + 1
    assert all(f["reason"] for f in summary["failed"])
    assert any("bad name" in f["reason"] for f in summary["failed"])

    prepared = tmp_path / "data" / "prepared"
    raw = tmp_path / "data" / "raw" / "msr-vtt"
    raw.mkdir(parents=True)
    (raw / "MSRVTT_data.json").write_text(json.dumps({"info": {}, "videos": [], "sentences": []}))
    (raw / "manifest.csv").write_text("video_id,path,bytes,fps,frame_count,width,height,duration_s,status,error,category,source_split\n")
    before = files_under(tmp_path)
    layout = layout_around(raw, prepared=prepared, panda_dir=panda, frame_config=FrameConfig(width=144, height=96, frames=9))
    metadata = build_scenario_metadata(layout, limit=None)
    records = metadata.document["train"] + metadata.document["validation"]
    assert len(records) == 4
    frames = run_frame_stage(records, layout, workers=0)
    assert frames.counts == {"ok": 4} and all(prepared.as_posix() in r["image_path"] for r in frames.clips)
    # Written: prepared files, and the label model and caption embeddings in the data root's cache.
    assert all(prepared in p.parents or layout.cache_root in p.parents for p in files_under(tmp_path) - before), \
        files_under(tmp_path) - before


# --- scenario names and hand-edited metadata -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../up", "a/b", "x" * 49, "Urban", "_x", "9lives", "city\u2215x"])
def test_scenario_names_are_bounded_and_path_safe(tmp_path, name):
    path = tmp_path / "scenarios.yaml"
    path.write_text(json.dumps({"scenarios": {name: {"keywords": ["street"]}}}))
    with pytest.raises(ScenarioConfigError, match="scenario name"):
        load_scenarios(path)


def test_longest_allowed_scenario_name_loads(tmp_path):
    path = tmp_path / "scenarios.yaml"
    path.write_text(json.dumps({"scenarios": {"s" * 48: {"keywords": ["street"]}}}))
    assert list(load_scenarios(path).scenarios) == ["s" * 48]


def test_frame_stage_refuses_hostile_ids_from_an_edited_metadata_file(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, seconds=3.0)
    root = tmp_path / "data" / "prepared"
    records = [{"video_id": "good", "scenario": "urban", "video_path": str(clip)}]
    records += [{"video_id": v, "scenario": "urban", "video_path": str(clip)} for v in hostile_ids(tmp_path / "outside").values()]
    records += [{"video_id": "fine", "scenario": "../../../outside", "video_path": str(clip)}]
    before = files_under(tmp_path)
    layout = layout_around(root=tmp_path, prepared=root, frame_config=FrameConfig(width=144, height=96, frames=9))
    result = run_frame_stage(records, layout, workers=0)
    assert result.counts == {"ok": 1, "unsafe_id": len(records) - 1}
    assert all(c["reason"] for c in result.clips if c["status"] == "unsafe_id")
    assert all(root in p.parents for p in files_under(tmp_path) - before)
