"""The pipeline by shard of work on the embedded sample: a step reads only its shard's rows from the metadata store,
a rebuild with more clips moves none of the earlier ones, and the tools refuse a shard that does not exist."""

from __future__ import annotations

from collections import Counter

import pytest

from prep_platform.lib import pipeline
from prep_platform.lib.files.metadata_store import ReadStats, read_records
from prep_platform.lib.settings import PrepSettings
from prep_platform.samples import DEMO_SAMPLE


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    settings = PrepSettings(data_root=str(root), msr_vtt_source="sample", frame_size="144x96", frames=9, workers=0,
                            shard_size=2, metadata_limit=12)
    layout = settings.layout()
    pipeline.fetch_msr_vtt(settings, layout, sample=DEMO_SAMPLE)
    pipeline.build_metadata(settings, layout)
    return settings, layout


def test_a_step_reads_only_its_shards_rows(sharded, monkeypatch):
    settings, layout = sharded
    everything = read_records(layout.metadata_file)
    by_shard = Counter((r["scenario"], r["shard"]) for r in everything)
    assert max(by_shard.values()) <= 2 and len(by_shard) >= 5
    scenario, shard = max(by_shard, key=lambda key: (key[1], by_shard[key]))  # a later shard of some scenario
    reads: list[ReadStats] = []
    real = pipeline.read_records

    def spy(path, **kwargs):
        stats = kwargs.pop("stats", None) or ReadStats()
        reads.append(stats)
        return real(path, stats=stats, **kwargs)

    monkeypatch.setattr(pipeline, "read_records", spy)
    result = pipeline.prepare_frames(settings, layout, scenario, shard)
    assert {row["video_id"] for row in result.clips} == {r["video_id"] for r in everything
                                                          if (r["scenario"], r["shard"]) == (scenario, shard)}
    # What the step read: its shard's row group, its rows; never the other shards' (the store has all of them).
    assert reads and all(stats.row_groups == 1 and stats.rows == by_shard[(scenario, shard)] for stats in reads)
    assert len(everything) > 3 * by_shard[(scenario, shard)]


def test_a_rebuild_with_more_clips_moves_none_of_the_earlier_ones(sharded):
    settings, layout = sharded
    before = {r["video_id"]: (r["scenario"], r["shard"]) for r in read_records(layout.metadata_file)}
    more = settings.with_values(metadata_limit=0)  # every clip of the sample
    pipeline.build_metadata(more, layout)
    after = {r["video_id"]: (r["scenario"], r["shard"]) for r in read_records(layout.metadata_file)}
    assert len(after) > len(before)
    assert all(after[vid] == place for vid, place in before.items() if after[vid][0] == place[0])
    assert max(Counter(after.values()).values()) <= 2


def test_tools_run_every_shard_by_default_and_refuse_an_unknown_one(sharded):
    settings, layout = sharded
    shards = pipeline.work_shards(settings, layout)
    everything = pipeline.chosen_shards(settings, layout, None, None)
    assert everything == [(s, n) for s, numbers in shards.items() for n in numbers]
    assert pipeline.chosen_shards(settings, layout, ["urban"], ["1"]) == [("urban", 1)]
    assert pipeline.chosen_shards(settings, layout, None, ["urban.0000"]) == [("urban", 0)]
    with pytest.raises(pipeline.UnknownScenarioError, match="unknown shard 'urban.0042': the shards are urban.0000"):
        pipeline.chosen_shards(settings, layout, None, ["urban.0042"])


def test_a_misspelt_scenario_exits_2_naming_the_known_ones_and_creates_nothing(tmp_path, capsys):
    """`--scenario urbn` used to run on nothing, exit 0 and create prepared/frames/urbn/."""
    import pytest

    from prep_platform.data_prep import encode_prompts, preprocess_video_latents
    from prep_platform.data_prep._cli import run_cli
    from prep_platform.lib.files.metadata_store import write_records

    root = tmp_path / "data"
    (root / "metadata").mkdir(parents=True)
    write_records(root / "metadata" / "scenario_metadata.parquet", [])  # an empty store
    for tool, main in (("preprocess_video_latents", preprocess_video_latents.main), ("encode_prompts", encode_prompts.main)):
        with pytest.raises(SystemExit) as exit_:
            run_cli(lambda: main(["--data-root", str(root), "--scenario", "urbn"]), tool)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1, (tool, err)
        assert "unknown scenario 'urbn': the scenarios are press_room, urban, nature, transport, crowd" in err[0]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["metadata", "metadata/scenario_metadata.parquet"]
