"""The typed sample (lib.sample): a window's facts are declared once, read from a frame row at the file boundary
with their types checked, and keep the cache key they had as dicts."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from prep_platform.lib.files import row_table
from prep_platform.lib.files.latent_file import LatentHeader
from prep_platform.lib.sample import WINDOW_FACTS, SampleTypeError, Window
from prep_platform.lib.stages.frames import FrameRow


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
