"""The typed sample (lib.sample): a window's facts are declared once, read from a frame row at the file boundary
with their types checked, and keep the cache key they had as dicts."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from prep_platform.lib.files import row_table
from prep_platform.lib.files.latent_file import LatentHeader
from prep_platform.lib.sample import WINDOW_FACTS, ClipPrompts, Sample, SampleTypeError, SourceFile, Window
from prep_platform.lib.frames.stage import FrameRow, frame_samples


def test_the_window_facts_are_declared_once_and_every_file_agrees_on_them():
    assert WINDOW_FACTS == ("window_index", "window_start_s", "window_end_s", "shot_index", "shot", "clean_window",
                            "cuts_in_window", "shot_detection")
    declared = typing.get_type_hints(Window)
    frame_columns = typing.get_type_hints(FrameRow)
    header_fields = typing.get_type_hints(LatentHeader)
    for name in WINDOW_FACTS:
        # The frame row's column and the latent header's field hold the same kind as the declaration (the review
        # found cuts_in_window a list in one and an int in the other).
        assert frame_columns[name] == declared[name] or typing.get_origin(frame_columns[name]) is not None, name
        base = {typing.get_origin(t) or t for t in typing.get_args(declared[name])} - {type(None)}
        header_base = {typing.get_origin(t) or t for t in typing.get_args(header_fields[name])} - {type(None)}
        assert base == header_base, (name, base, header_base)
    assert set(WINDOW_FACTS) <= set(row_table.columns_of(FrameRow))


def test_a_frame_row_becomes_a_window_and_a_wrong_type_is_refused_naming_the_fact():
    row = {"video_id": "video7", "sample_id": "video7__w1", "window_index": 1, "window_start_s": 6, "window_end_s": 12.0,
           "clean_window": False, "cuts_in_window": [8.5], "status": "ok"}
    window = Window.from_row(row)
    assert window == Window(window_index=1, window_start_s=6, window_end_s=12.0, clean_window=False, cuts_in_window=[8.5])
    assert window.facts() == {k: row[k] for k in WINDOW_FACTS if k in row}
    # The cache key of the dict era, kept: the start's repr and whether it spans a cut.
    assert window.key() == "6:across-cuts" and Window(window_start_s=6.0).key() == "6.0"
    assert Window.from_row({"video_id": "video7"}) is None  # the configured window
    for fact, value in (("window_start_s", "6"), ("window_index", True), ("cuts_in_window", 2), ("clean_window", 1)):
        with pytest.raises(SampleTypeError, match=rf"^sample video7__w1: window fact '{fact}' must be "):
            Window.from_row({**row, fact: value})
    with pytest.raises(dataclasses.FrozenInstanceError):
        window.window_start_s = 7.0  # type: ignore[misc]


def test_a_frame_row_becomes_a_sample_and_a_wrong_type_is_refused_naming_the_column():
    row = {"video_id": "video7", "sample_id": "video7__w1", "scenario": "urban", "split": "train", "status": "ok",
           "video_path": "/data/raw/video7.mp4", "image_path": "/data/frames/video7__w1.png", "source_bytes": 1234,
           "source_mtime_ns": 99, "source_fingerprint": "ab" * 32, "window_index": 1, "window_start_s": 6.0}
    sample = Sample.from_frame_row(row)
    assert sample == Sample("video7", "video7__w1", "urban", "train",
                            SourceFile("/data/raw/video7.mp4", "ab" * 32, 1234, 99), "/data/frames/video7__w1.png",
                            Window(window_index=1, window_start_s=6.0))
    # The source-identity rule reads the sample's source as it read the row.
    assert sample.source.recorded() == {k: row[k] for k in ("source_bytes", "source_mtime_ns", "source_fingerprint")}
    # A row written before windows had a sample id: the clip is the sample.
    assert Sample.from_frame_row({**row, "sample_id": None}).sample_id == "video7"
    with pytest.raises(SampleTypeError, match=r"^sample video7__w1: column 'source_bytes' must be int, got '1234'$"):
        Sample.from_frame_row({**row, "source_bytes": "1234"})
    with pytest.raises(SampleTypeError, match=r"^sample video7__w1: column 'video_path' must be str, got None$"):
        Sample.from_frame_row({**row, "video_path": None})
    with pytest.raises(SampleTypeError, match=r"column 'source_mtime_ns' must be int, got True"):
        Sample.from_frame_row({**row, "source_mtime_ns": True})  # a bool is not a number of nanoseconds


def test_the_frame_stage_hands_on_typed_samples_of_its_ok_rows_only():
    rows = [{"video_id": "a", "sample_id": "a", "scenario": "urban", "split": "train", "status": "ok",
             "video_path": "/v/a.mp4", "image_path": "/f/a.png"},
            {"video_id": "b", "sample_id": "b", "scenario": "urban", "split": "train", "status": "too_short",
             "video_path": "/v/b.mp4", "image_path": None}]
    assert [(s.sample_id, s.source.path, s.window) for s in frame_samples(rows)] == [("a", "/v/a.mp4", None)]
    with pytest.raises(SampleTypeError, match="sample a: column 'scenario' must be str"):
        frame_samples([{**rows[0], "scenario": 3}])


def test_a_records_prompts_are_typed_at_the_metadata_boundary():
    record = {"video_id": "video7", "split": "validation", "caption": "a man talks",
              "prompt_variants": ["a man talks", "a man talks in a press room"]}
    assert ClipPrompts.from_record(record) == ClipPrompts("video7", "validation",
                                                          ("a man talks", "a man talks in a press room"))
    # No variants: the caption is the one prompt.
    assert ClipPrompts.from_record({**record, "prompt_variants": []}).prompts == ("a man talks",)
    with pytest.raises(SampleTypeError, match=r"^clip video7: column 'prompt_variants' must hold text, got \['a', 3\]$"):
        ClipPrompts.from_record({**record, "prompt_variants": ["a", 3]})
    with pytest.raises(SampleTypeError, match=r"^clip video7: column 'caption' must hold text, got \[None\]$"):
        ClipPrompts.from_record({"video_id": "video7", "split": "train"})
    with pytest.raises(SampleTypeError, match=r"^clip video7: column 'split' must be str, got 1$"):
        ClipPrompts.from_record({**record, "split": 1})
