"""The metadata's JSON view: it stands for its store wherever a metadata file is read, it shows the seed's record
schema with the image and latent paths the stages last made, and no stage empties its output because its input held
no records."""

from __future__ import annotations

import json
import shutil

import pytest

from prep_platform.lib import pipeline
from prep_platform.lib.files.metadata_store import MetadataInputError, read_records, resolve_metadata_input
from prep_platform.lib.layout import metadata_view_path
from prep_platform.lib.settings import PrepSettings
from prep_platform.lib.stages.metadata import build_scenario_metadata, write_scenario_metadata
from prep_platform.lib.stages.metadata import SEED_FIELDS
from prep_platform_tests.support.layouts import layout_around
from prep_platform_tests.support.prepared import prepare_sample_root


def test_the_view_stands_for_its_store_and_other_files_are_refused_naming_them(msr_vtt_raw_dir, tmp_path):
    store = write_scenario_metadata(build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None),
                                    tmp_path / "metadata" / "scenario_metadata.parquet")
    view = metadata_view_path(store)
    assert resolve_metadata_input(view) == store and pipeline.metadata_input(view) == store
    document = json.loads(view.read_text())
    assert document["records_in_view"]["shown"] == document["records_in_view"]["total"] > 0
    for scenario in ("press_room", "urban", "crowd"):
        from_store = read_records(store, scenario=scenario, shard=0)
        assert from_store and read_records(view, scenario=scenario, shard=0) == from_store
    assert list(document["train"][0])[:6] == list(SEED_FIELDS)

    with pytest.raises(MetadataInputError, match=r"missing\.json: not found"):
        pipeline.metadata_input(tmp_path / "missing.json")
    other = tmp_path / "labels.json"
    other.write_text('[{"video_id": "video0"}]')
    with pytest.raises(MetadataInputError, match=r"labels\.json: neither a scenario metadata store, its view, nor"):
        resolve_metadata_input(other)
    moved = tmp_path / "elsewhere" / "scenario_metadata.json"
    moved.parent.mkdir()
    shutil.copyfile(view, moved)  # a view without its store: not taken for a document of its few records
    with pytest.raises(MetadataInputError, match=r"a view of the store .*scenario_metadata\.parquet, which is not found"):
        resolve_metadata_input(moved)


def _view_records(settings: PrepSettings, scenario: str) -> list[dict]:
    document = json.loads(settings.layout().metadata_view.read_text())
    return [r for split in ("train", "validation") for r in document[split] if r["scenario"] == scenario]


@pytest.fixture(scope="module")
def urban_root(tmp_path_factory) -> tuple:
    """One data root with urban prepared end to end (frames, latents, index, prompts) at 96x64; the tests below
    that change it run last."""
    root = tmp_path_factory.mktemp("view") / "data"
    return root, prepare_sample_root(root, scenarios=("urban",), frame_size="96x64", frames=9, augment=False)


def test_no_stage_replaces_its_output_with_an_empty_one_when_its_input_holds_no_records(urban_root, tmp_path):
    root, settings = urban_root
    layout = settings.layout()
    # A metadata document of the user's own that holds no urban clip (a wrong file, a wrong split...).
    document = tmp_path / "nature_only.json"
    records = read_records(layout.metadata_file, scenario="nature")
    document.write_text(json.dumps({"train": [r for r in records if r["split"] == "train"], "validation": []}))
    elsewhere = layout.relocated(metadata_file=document)
    outputs = [layout.frames_manifest("urban", 0), layout.frames_manifest("urban", 0).with_suffix(".parquet"),
               layout.training_index("urban", 0), layout.prompt_embeds_manifest("urban", 0)]
    before = {path: path.read_bytes() for path in outputs}
    with pytest.raises(pipeline.EmptyInputError, match=r"urban\.0000: the metadata .*nature_only\.json .* holds no "
                                                       r"records for this shard, so .*frames_manifest\.json \(\d+ rows\) is kept"):
        pipeline.prepare_frames(settings, elsewhere, "urban", 0)
    with pytest.raises(pipeline.EmptyInputError, match=r"training_index\.parquet \(\d+ rows\) is kept"):
        pipeline.write_index(settings, elsewhere, "urban", 0)
    with pytest.raises(pipeline.EmptyInputError, match=r"shard-0000\.json \(\d+ rows\) is kept"):
        pipeline.encode_prompts(settings, elsewhere, "urban", 0, encoder=None)
    assert {path: path.read_bytes() for path in outputs} == before


def test_the_view_shows_the_files_the_stages_made_and_follows_another_size(urban_root):
    root, settings = urban_root
    layout = settings.layout()
    frames = pipeline.read_frames_manifest(layout.frames_manifest("urban", 0))
    primary = {row["video_id"]: row for row in frames["clips"] if row["status"] == "ok" and row["window_index"] == 0}
    urban = _view_records(settings, "urban")
    assert primary and {r["video_id"] for r in urban} >= set(primary)
    for record in urban:
        assert list(record)[:6] == list(SEED_FIELDS)
        if record["video_id"] in primary:
            assert record["built"] == {"image_path": True, "latent_path": True}
            assert record["image_path"] == primary[record["video_id"]]["image_path"] and "96x64_9f" in record["image_path"]
            assert (root / "prepared" / "latents" / "cogvideox" / "urban" / f"{record['video_id']}.npz").samefile(record["latent_path"])
    for record in _view_records(settings, "nature"):  # not prepared: the planned paths, said to be planned
        assert record["built"] == {"image_path": False, "latent_path": False}
        assert record["latent_path"] == str(layout.latent("nature", record["video_id"]))

    # Frames at another size: the images are those of the new size, and the latents, made from the old frames, are
    # no longer said to be built for them.
    other = settings.model_copy(update={"frame_size": "64x48"})
    pipeline.prepare_frames(other, other.layout(), "urban", 0)
    for record in _view_records(settings, "urban"):
        if record["video_id"] in primary:
            assert "64x48_9f" in record["image_path"] and record["built"] == {"image_path": True, "latent_path": False}


@pytest.mark.parametrize("tool", ["preprocess_video_latents", "encode_prompts", "export_training_set"])
def test_a_mistyped_metadata_path_is_not_found_in_one_line(tool, tmp_path):
    from prep_platform_tests.support.cli_runs import run_module

    extra = ["--format", "cogvideox-factory"] if tool == "export_training_set" else []
    done = run_module(f"prep_platform.data_prep.{tool}", "--metadata", "data/metadata/scenario_metdata.json", *extra,
                      cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"{tool}: error: data/metadata/scenario_metdata.json: not found (the scenario " \
                                  f"metadata: build it with build_scenario_metadata)"


def test_a_record_of_a_json_document_without_a_caption_is_refused_naming_it(tmp_path):
    document = tmp_path / "mine.json"
    records = [{"video_id": "video1", "split": "train", "scenario": "urban", "video_path": "a.mp4", "caption": "a street",
                "prompt_variants": ["a street"]},
               {"video_id": "video2", "split": "train", "scenario": "urban", "video_path": "b.mp4", "caption": None,
                "prompt_variants": ["x"]}]
    document.write_text(json.dumps({"train": records, "validation": []}))
    with pytest.raises(MetadataInputError, match=r"mine\.json: train\[1\] \('video2'\): no 'caption'"):
        read_records(document, scenario="urban")
    document.write_text(json.dumps({"train": [records[0], "video3"]}))
    with pytest.raises(MetadataInputError, match=r"mine\.json: train\[1\] is not a record"):
        read_records(document, scenario="urban")


def test_a_users_file_at_the_views_name_is_never_replaced(msr_vtt_raw_dir, tmp_path):
    from prep_platform.lib.stages.metadata import write_metadata_view

    mine = tmp_path / "metadata" / "scenario_metadata.json"
    mine.parent.mkdir()
    mine.write_text('{"train": [], "validation": [], "note": "my own file"}')
    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None)
    with pytest.raises(MetadataInputError, match=r"scenario_metadata\.json: exists and is not a metadata view"):
        write_scenario_metadata(result, tmp_path / "metadata" / "scenario_metadata.parquet")
    assert mine.read_text() == '{"train": [], "validation": [], "note": "my own file"}'
    assert sorted(p.name for p in mine.parent.iterdir()) == ["scenario_metadata.json"]  # nothing written beside it
    mine.unlink()
    store = write_scenario_metadata(result, tmp_path / "metadata" / "scenario_metadata.parquet")
    mine.write_text("my notes")  # a stage finishing a shard never replaces it either
    assert write_metadata_view(layout_around(msr_vtt_raw_dir).relocated(metadata_file=store)) is None
    assert mine.read_text() == "my notes"


def test_a_build_whose_view_would_replace_a_users_json_is_refused_before_it_starts(msr_vtt_raw_dir, tmp_path):
    mine = tmp_path / "out" / "scenario_metadata.json"
    mine.parent.mkdir()
    mine.write_text('{"train": [], "validation": []}')
    settings = PrepSettings(data_root=str(tmp_path / "data"), msr_vtt_source="sample")
    layout = settings.layout().relocated(msr_vtt=msr_vtt_raw_dir, metadata_file=mine)
    with pytest.raises(MetadataInputError, match=r"scenario_metadata\.json: exists and is not a metadata view"):
        pipeline.build_metadata(settings, layout)
    assert mine.read_text() == '{"train": [], "validation": []}' and not mine.with_suffix(".parquet").exists()


def test_a_view_or_document_an_earlier_version_wrote_is_replaced(msr_vtt_raw_dir, tmp_path):
    from prep_platform.lib.layout import metadata_report_path
    from prep_platform.lib.stages.metadata import is_our_view

    earlier = tmp_path / "metadata" / "scenario_metadata.json"
    earlier.parent.mkdir()
    earlier.write_text('{"train": [\n  {"video_id": "video0"}\n],\n"validation": []}\n')  # the old .json output
    assert not is_our_view(earlier)  # a user's file, as far as anything beside it tells
    metadata_report_path(earlier).write_text(json.dumps({"tool": "build_scenario_metadata", "output": str(earlier)}))
    assert is_our_view(earlier)
    settings = PrepSettings(data_root=str(tmp_path), msr_vtt_source="sample", metadata_limit=0)
    pipeline.build_metadata(settings, settings.layout().relocated(msr_vtt=msr_vtt_raw_dir, metadata_file=earlier))
    assert json.loads(earlier.read_text())["kind"] == "prep_platform scenario metadata view"
    # The view an earlier version wrote beside its store (no `kind`; its report names the store).
    earlier.write_text(json.dumps({"store": "data/metadata/scenario_metadata.parquet",
                                   "about": "a view of the scenario metadata: the records are in the store"}, indent=1))
    assert is_our_view(earlier)
    metadata_report_path(earlier).write_text(json.dumps({"output": "elsewhere/other.parquet"}))
    assert not is_our_view(earlier)
