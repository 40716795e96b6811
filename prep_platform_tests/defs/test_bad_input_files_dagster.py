"""The assets call the same core as the tools: a damaged metadata store fails the shard's step with the same one line
(naming the file and the problem) that the tools print, never a KeyError or a TypeError from inside a stage; a shard
check that finds its manifest damaged fails naming it instead of erroring."""

from __future__ import annotations

import dagster as dg
import pytest

from prep_platform.defs.frames.assets import clip_frames
from prep_platform.defs.partitions import shard_partitions
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.defs.shard_assets import shard_asset_check
from prep_platform.lib.files import row_table
from prep_platform.lib.frames.stage import FrameRow, read_frames_manifest
from prep_platform_tests.support.damaged_parquet import STORE_DAMAGES, flip_page_data, small_store


@pytest.mark.parametrize("damage", ["null caption", "shard stored as text"])
def test_the_frames_step_fails_with_the_tools_line(tmp_path, damage):
    settings = PrepPlatformSettings(data_root=str(tmp_path), frame_size="144x96", frames=9, workers=0)
    store = settings.layout().metadata_file
    assert small_store(store.parent) == store
    change, words = STORE_DAMAGES[damage]
    change(store)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shard_partitions.name, ["urban.0000"])
        result = dg.materialize([clip_frames], instance=instance, partition_key="urban.0000", raise_on_error=False,
                                resources={"settings": settings})
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure).event_specific_data.error
    while failure.cause is not None and failure.cls_name != "ParquetFileError":
        failure = failure.cause
    assert failure.cls_name == "ParquetFileError"
    line = failure.message.removeprefix("prep_platform.lib.files.row_table.ParquetFileError: ").rstrip("\n")
    assert line.startswith(f"{store}: ") and words in line and "\n" not in line


def test_a_shard_check_reading_a_damaged_manifest_fails_naming_it(tmp_path):
    settings = PrepPlatformSettings(data_root=str(tmp_path), frame_size="144x96", frames=9, workers=0)
    view = settings.layout().frames_manifest("urban", 0)
    row_table.write_manifest(view, {"partition": "urban.0000"}, "clips",
                             [{"video_id": "video0", "sample_id": "video0", "scenario": "urban", "status": "ok",
                               "video_path": "/clips/video0.mp4", "image_path": "/images/video0.png",
                               "latent_path": "/latents/video0.npz"}], FrameRow)
    flip_page_data(row_table.rows_path(view), "video_path")

    @dg.asset(partitions_def=shard_partitions)
    def frames_stand_in() -> None:
        return None

    @shard_asset_check(asset=frames_stand_in)
    def frames_stand_in_manifest_check(settings: PrepPlatformSettings, scenario: str, shard: int) -> dg.AssetCheckResult:
        read_frames_manifest(settings.layout().frames_manifest(scenario, shard))  # what every shard check does first
        return dg.AssetCheckResult(passed=True)

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shard_partitions.name, ["urban.0000"])
        result = dg.materialize([frames_stand_in, frames_stand_in_manifest_check], instance=instance,
                                partition_key="urban.0000", raise_on_error=False, resources={"settings": settings})
    [evaluation] = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert result.success and evaluation.passed is False  # a failed check, not an errored step
    problem = evaluation.metadata["problem"].value
    assert problem.startswith(f"{row_table.rows_path(view)}: ") and "CRC checksum verification failed" in problem
