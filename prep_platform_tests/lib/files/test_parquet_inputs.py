"""Parquet inputs validated where they are read: a damaged, truncated or hand-edited metadata store, frames manifest
or training index is refused with one line naming the file and the problem (the column, the record), before a stage
keys on it; what pandas or another tool writes for the same columns is read as it is."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prep_platform.lib.files import row_table
from prep_platform.lib.files.metadata_store import read_document, read_records, record_columns, shards_in_store
from prep_platform.lib.files.row_table import ParquetFileError
from prep_platform.lib.frames.stage import FrameRow, read_frames_manifest
from prep_platform.lib.stages.metadata import store_schema_problems
from prep_platform.lib.stages.training_index import IndexRow, read_training_index
from prep_platform_tests.support.damaged_parquet import (
    STORE_DAMAGES,
    flip_page_data,
    flip_page_header,
    null_in,
    retype_column,
    rewrite,
    small_store,
    truncate,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("store"))


@pytest.mark.parametrize("damage", list(STORE_DAMAGES))
def test_a_damaged_store_is_one_line_naming_the_file_and_the_problem(store, tmp_path, damage):
    change, words = STORE_DAMAGES[damage]
    damaged = tmp_path / "scenario_metadata.parquet"
    shutil.copy(store, damaged)
    change(damaged)
    with pytest.raises(ParquetFileError) as refused:
        read_records(damaged, scenario="urban", shard=0)  # what every stage reads its shard with
    message = str(refused.value)
    assert message.startswith(f"{damaged}: ") and words in message and "\n" not in message
    assert isinstance(refused.value, ValueError)  # what the tools' run_cli shows as one line, exit 2


def test_the_footer_readers_refuse_a_retyped_or_missing_column_too(store, tmp_path):
    damaged = tmp_path / "scenario_metadata.parquet"
    shutil.copy(store, damaged)
    rewrite(damaged, retype_column("shard", pa.string()))  # was a TypeError in the frame and prompt stages
    for read in (shards_in_store, lambda p: record_columns(p, ["video_id", "split", "scenario"])):
        with pytest.raises(ParquetFileError, match="column 'shard' is string, expected int32"):
            read(damaged)


def test_a_null_id_is_named_by_its_row(store, tmp_path):
    damaged = tmp_path / "scenario_metadata.parquet"
    shutil.copy(store, damaged)
    rewrite(damaged, null_in("video_id", 2))
    with pytest.raises(ParquetFileError, match=r"the record at row 2 has no video_id \(null\)$"):
        read_records(damaged, scenario="urban")


def test_the_schema_check_still_lists_each_bad_record(store, tmp_path):
    # The whole-dataset check reads nulls as missing fields and names each record; it is not stopped at the first.
    damaged = tmp_path / "scenario_metadata.parquet"
    shutil.copy(store, damaged)
    rewrite(damaged, null_in("caption", 0))
    rewrite(damaged, null_in("caption", 2))
    problems, total = store_schema_problems(damaged)
    assert total == 2 and all(".caption" in problem for problem in problems)
    assert len(read_document(damaged)["train"]) == 3


def test_what_pandas_or_another_tool_writes_for_the_columns_is_read(store, tmp_path):
    other = tmp_path / "scenario_metadata.parquet"
    table = pq.read_table(store)
    fields = [pa.field(f.name, pa.int64() if f.name == "shard" else pa.large_string() if f.type == pa.string()
                       else pa.large_list(pa.field("element", pa.large_string())) if pa.types.is_list(f.type) else f.type)
              for f in table.schema]
    pq.write_table(table.cast(pa.schema(fields)).drop_columns(["original_caption"]), other)  # no checksums either
    assert read_records(other, scenario="urban", shard=0) == read_records(store, scenario="urban", shard=0)


FRAME_ROWS = [{"video_id": f"video{n}", "sample_id": f"video{n}", "scenario": "urban", "split": "train", "status": "ok",
               "video_path": f"/clips/video{n}.mp4", "image_path": f"/images/video{n}.png",
               "latent_path": f"/latents/video{n}.npz", "window_index": 0} for n in range(3)]


@pytest.mark.parametrize("damage, words", [
    (lambda p: flip_page_header(p, "video_path"), "Couldn't deserialize thrift"),
    (lambda p: flip_page_data(p, "video_path"), "CRC checksum verification failed"),
    (truncate, "magic bytes not found"),
    (lambda p: rewrite(p, lambda t: t.drop_columns(["keys_present"])), "no column 'keys_present'"),
    (lambda p: rewrite(p, retype_column("window_index", pa.string())), "column 'window_index' is string, expected int64"),
], ids=["page header flipped", "page data flipped", "truncated", "column dropped", "column retyped"])
def test_a_damaged_manifest_rows_file_is_refused_naming_it(tmp_path, damage, words):
    view = tmp_path / "frames_manifest.json"
    row_table.write_manifest(view, {"partition": "urban.0000"}, "clips", FRAME_ROWS, FrameRow)
    assert read_frames_manifest(view)["clips"] == FRAME_ROWS
    damage(row_table.rows_path(view))
    # Both files are written atomically: damage is not "a run stopped between the two writes" (None: redo the stage).
    with pytest.raises(ParquetFileError) as refused:
        read_frames_manifest(view)
    message = str(refused.value)
    assert message.startswith(f"{row_table.rows_path(view)}: ") and words in message and "\n" not in message
    row_table.rows_path(view).unlink()
    assert read_frames_manifest(view) is None


def test_a_retyped_training_index_is_refused_naming_the_column(tmp_path):
    index = tmp_path / "training_index.parquet"
    row_table.write_rows(index, [{"video_id": "video0", "sample_id": "video0", "shard": 0, "window_index": 0,
                                  "split": "train", "caption": "a busy street", "prompt_variants": ["a busy street"],
                                  "latent_path": "/l.npz", "image_path": "/i.png", "augmentations": {},
                                  "dataset": "msr-vtt"}], IndexRow)
    assert read_training_index(index)[0]["shard"] == 0
    rewrite(index, retype_column("shard", pa.string()))
    with pytest.raises(ParquetFileError) as refused:
        read_training_index(index)
    assert str(refused.value) == f"{index}: not a training index (not a table of IndexRows: column 'shard' is string, expected int64)"
