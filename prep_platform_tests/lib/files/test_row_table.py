"""Manifest rows as Parquet typed by a row class: exact round trips (absent keys stay absent, unknown keys are
kept), a value of another type than its column's is refused at the file naming the column, a manifest is read only
when whole, and the columns come from the class."""

from __future__ import annotations

import json
from dataclasses import field, dataclass

import pyarrow.parquet as pq
import pytest

from prep_platform.lib.files import row_table
from prep_platform.lib.frames.stage import FrameRow
from prep_platform.lib.stages.latents import LatentRow
from prep_platform.lib.stages.prompt_embeddings import PromptRow
from prep_platform.lib.stages.training_index import IndexRow


@dataclass
class Row:
    name: str = field(default=None, metadata={"doc": "a name"})
    count: int | None = None
    share: float | None = None
    flag: bool | None = None
    points: list[float] | None = None
    facts: dict | None = None


def test_rows_come_back_exactly_as_written(tmp_path):
    rows = [
        {"name": "a", "count": 3, "share": 0.5, "flag": True, "points": [1.0, 2.5], "facts": {"k": [1, {"x": None}]}},
        {"name": "b", "count": None},  # None is kept as None; share, flag... stay absent
        {"name": "c", "count": 3, "surprise": {"new": 1}},  # an unknown key: in `extra`
        {"name": "d\u2028e", "share": 2},  # an int in a float column is a float of the same value
    ]
    path = tmp_path / "rows.parquet"
    row_table.write_rows(path, rows, Row)
    back = row_table.read_rows(path, Row)
    assert back == rows
    assert "share" not in back[1] and back[1]["count"] is None and back[2]["count"] == 3
    table = pq.read_table(path)
    assert table.schema.field("count").type == "int64" and table.schema.field("facts").type == "string"
    assert json.loads(table.column("extra")[2].as_py()) == {"surprise": {"new": 1}}


@pytest.mark.parametrize("bad, says", [
    ({"count": "three"}, "Row column 'count' must hold an integer: row 1 has 'three' (str)"),
    ({"count": 2.5}, "Row column 'count' must hold an integer: row 1 has 2.5 (float)"),
    ({"count": True}, "Row column 'count' must hold an integer: row 1 has True (bool)"),
    ({"share": False}, "Row column 'share' must hold a number: row 1 has False (bool)"),
    ({"name": 7}, "Row column 'name' must hold a string: row 1 has 7 (int)"),
    ({"flag": 1}, "Row column 'flag' must hold a bool: row 1 has 1 (int)"),
    ({"points": 3}, "Row column 'points' must hold list or tuple: row 1 has 3 (int)"),
    ({"facts": [1]}, "Row column 'facts' must hold dict: row 1 has [1] (list)"),
    ({"count": 2**70}, "Row column 'count' must hold an integer: row 1 has 1180591620717411303424 (int)"),
])
def test_a_value_of_another_type_is_refused_at_the_file_naming_the_column(tmp_path, bad, says):
    """No `extra` for a known column: a wrong type (a stage's bug, a hand-edited row) fails the write in one line
    naming the row class, the column and the row, and nothing is written."""
    rows = [{"name": "a", "count": 1, "share": 0.5}, {"name": "c", **bad}]
    path = tmp_path / "rows.parquet"
    with pytest.raises(row_table.RowTypeError) as refused:
        row_table.write_rows(path, rows, Row)
    assert str(refused.value) == says and "\n" not in str(refused.value)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_the_stages_rows_of_the_wrong_type_are_refused_too(tmp_path):
    """The window facts mean one thing in every file: cuts_in_window is a list of cut times in the frame row."""
    with pytest.raises(row_table.RowTypeError, match=r"^FrameRow column 'cuts_in_window' must hold list or tuple: "
                                                     r"video_id video7 has 2 \(int\)$"):
        row_table.write_rows(tmp_path / "f.parquet", [{"video_id": "video7", "cuts_in_window": 2}], FrameRow)


def test_a_manifest_is_read_only_when_its_rows_are_whole(tmp_path):
    view = tmp_path / "frames_manifest.json"
    rows = [{"name": f"r{i}", "count": i} for i in range(5)]
    row_table.write_manifest(view, {"partition": "urban.0000", "counts": {"ok": 5}}, "clips", rows, Row)
    shown = json.loads(view.read_text())
    assert shown["rows"] == 5 and shown["sample_clips"] == rows[:3] and shown["rows_file"] == "frames_manifest.parquet"
    assert row_table.read_manifest(view, "clips", Row) == {"partition": "urban.0000", "counts": {"ok": 5}, "clips": rows}
    # A run stopped between the two writes: new rows, the old view (or no rows file): not a manifest yet.
    row_table.write_rows(row_table.rows_path(view), rows[:2], Row)
    assert row_table.read_manifest(view, "clips", Row) is None
    row_table.rows_path(view).unlink()
    assert row_table.read_manifest(view, "clips", Row) is None
    assert row_table.read_manifest(tmp_path / "absent.json", "clips", Row) is None


@pytest.mark.parametrize("row_type", [FrameRow, LatentRow, PromptRow, IndexRow])
def test_each_manifests_columns_come_from_its_row_class_with_a_description(row_type):
    described = row_table.column_descriptions(row_type)
    assert [name for name, _, _ in described] == list(row_table.columns_of(row_type))
    assert all(doc for _, _, doc in described), "every column says what it holds"
    schema = row_table.row_schema(row_type)
    assert schema.names == [name for name, _, _ in described] + ["extra", "keys_present"]
