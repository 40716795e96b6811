"""clip_frames and clip_latents on a real Dagster instance: partitions, checks, incremental re-runs, the executor."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pytest

from prep_platform_tests.support.dagster_results import check_verdicts, materialization_metadata, sample_pipeline
from prep_platform.lib.files.latent_file import load_latent_file, write_latent_file
from prep_platform.lib.stages.latents import read_latents_manifest
from prep_platform.lib.stages.training_index import read_training_index


_checks = check_verdicts
_metadata = materialization_metadata


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    yield from sample_pipeline(tmp_path_factory.mktemp("data"))


def test_partition_run_writes_frames_and_latents_and_passes_checks(pipeline):
    defs, settings, instance = pipeline
    result = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="urban.0000")
    assert result.success
    assert _checks(result) == {"clip_frames_images_check": (True, "ERROR"), "clip_latents_files_check": (True, "ERROR"),
                               "prompt_embeddings_files_check": (True, "ERROR"), "clip_frames_windows_check": (True, "WARN")}
    frames = _metadata(result, "clip_frames")
    latents = _metadata(result, "clip_latents")
    # 5 MSR-VTT clips and 1 ingested Panda-70M shard clip are urban in the sample.
    assert frames["clips_ok"] == 6 and frames["clips_failed"] == 0
    assert latents["encoded"] == 6 and latents["failed"] == 0
    manifest = read_latents_manifest(settings.layout().latents_manifest("urban", 0))
    assert {row["status"] for row in manifest["clips"]} == {"encoded"}
    from prep_platform.lib.stages.metadata import load_metadata_document

    record = load_metadata_document(settings.layout().metadata_file)["train"]
    urban = next(r for r in record if r["scenario"] == "urban")
    assert settings.layout().latent("urban", urban["video_id"]).exists()

    index = read_training_index(settings.layout().training_index("urban", 0))
    assert len(index) == 6 and {row["dataset"] for row in index} == {"msr-vtt", "panda-70m"}
    assert all(row["prompt_variants"][0] == row["caption"] for row in index)

    again = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="urban.0000")
    assert _metadata(again, "clip_latents")["skipped"] == 6 and _metadata(again, "clip_latents")["encoded"] == 0


def test_a_corrupt_cache_fails_the_blocking_check_and_the_run(pipeline):
    defs, settings, instance = pipeline
    assert defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="nature.0000").success
    victim = sorted(settings.layout().latents_folder("nature").glob("*.npz"))[0]
    header, arrays = load_latent_file(victim)
    write_latent_file(victim, {**arrays, "latent_mean": np.zeros_like(arrays["latent_mean"])}, header)  # header intact

    result = defs.resolve_job_def("latents_job").execute_in_process(
        instance=instance, partition_key="nature.0000", raise_on_error=False
    )
    assert not result.success
    assert _checks(result)["clip_latents_files_check"] == (False, "ERROR")
    # The blocking check stopped the downstream step: the trainer's index was not rebuilt from a bad cache.
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "clip_latents" in materialised and "training_index" not in materialised
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "training_index" not in started
    evaluation = next(e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                      and e.event_specific_data.check_name == "clip_latents_files_check")
    assert victim.name in str(evaluation.event_specific_data.metadata["problems"].value)


def test_shot_windows_show_in_the_frames_metadata_and_warn_when_too_many_clips_are_dropped(pipeline):
    """At 49 frames (6.125 s at 8 fps), the sample's crowd clip cut every 2 s holds no window: it is dropped with its
    shot lengths, counted, and the WARN check fails above its threshold; the crowd clip's earlier clips still run."""
    from prep_platform.definitions import build_definitions
    from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource, VaeResource

    _, settings, instance = pipeline
    strict = PrepPlatformSettings(data_root=settings.data_root, msr_vtt_source="sample", frame_size="144x96", frames=49,
                                  workers=1, max_no_clean_window_share=0.1)
    defs = build_definitions(strict, VaeResource(preset="tiny"), TextEncoderResource(preset="tiny"))
    result = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="crowd.0000")
    assert result.success  # a WARN never blocks
    verdicts = _checks(result)
    assert verdicts["clip_frames_windows_check"] == (False, "WARN")
    assert verdicts["clip_frames_images_check"] == (True, "ERROR")  # a dropped clip is not a failed one
    frames = _metadata(result, "clip_frames")
    assert frames["clips_no_clean_window"] == 1 and frames["clips_failed"] == 0
    assert frames["clips_by_shot_count"]["7"] == 1 and frames["windows_taken"] == frames["clips_ok"]
    # The dropped clip is listed with its reason as a drop, not among the failures (clips_failed is 0).
    assert "7 shots of 2.00, 2.00" in str(frames["dropped_clips"]) and "7 shots" not in str(frames["failed_clips"])
    evaluation = next(e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                      and e.event_specific_data.check_name == "clip_frames_windows_check")
    assert "video18" in str(evaluation.event_specific_data.metadata["dropped_clips"].value)
    assert _metadata(result, "clip_latents")["encoded"] == frames["windows_taken"]


def test_a_run_of_two_shards_builds_the_encoder_once(pipeline):
    """BackfillPolicy.multi_run(SHARDS_PER_RUN): a backfill's run of several shards (here transport.0000 and
    crowd.0000, what the UI launches for a range, and the nightly schedule for every SHARDS_PER_RUN shards) builds the
    VAE once for them, and not at all when every cache is current."""
    from prep_platform.defs.partitions import SHARDS_PER_RUN, partition_range_tags
    from prep_platform.lib.models.vae import VaeEncoder

    defs, settings, instance = pipeline
    job = defs.resolve_job_def("latents_job")
    assert all(node.backfill_policy == dg.BackfillPolicy.multi_run(SHARDS_PER_RUN)
               for node in defs.resolve_asset_graph().asset_nodes if node.partitions_def is not None
               and node.key.to_user_string() in ("clip_frames", "clip_latents", "prompt_embeddings", "training_index"))
    builds = VaeEncoder.loads
    runs_before = len(instance.get_run_records())
    result = job.execute_in_process(instance=instance, tags=partition_range_tags("transport.0000", "crowd.0000"))
    assert result.success
    assert len(instance.get_run_records()) == runs_before + 1  # one run for both shards
    assert VaeEncoder.loads == builds + 1  # one model for both
    materialised = {(e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()}
    for asset in ("clip_frames", "clip_latents", "prompt_embeddings", "training_index"):
        assert {(asset, "transport.0000"), (asset, "crowd.0000")} <= materialised
    latents = _metadata(result, "clip_latents")
    assert latents["shards"] == "transport.0000, crowd.0000" and set(latents["per_shard"]) == {"transport.0000", "crowd.0000"}
    assert latents["encoded"] == sum(s["encoded"] for s in latents["per_shard"].values()) > 0
    assert all(_checks(result)[name][0] for name in ("clip_frames_images_check", "clip_latents_files_check",
                                                      "prompt_embeddings_files_check"))
    for scenario in ("transport", "crowd"):
        assert settings.layout().training_index(scenario, 0).exists()

    # Nothing stale: the same backfill builds no model at all.
    again = job.execute_in_process(instance=instance, tags=partition_range_tags("transport.0000", "crowd.0000"))
    assert again.success and VaeEncoder.loads == builds + 1
    unchanged = _metadata(again, "clip_latents")
    assert unchanged["encoded"] == 0 and not any(s["model_loaded"] for s in unchanged["per_shard"].values())


EXECUTOR_SCRIPT = """
import json, sys
import dagster as dg
from prep_platform.definitions import build_definitions
from prep_platform.deploy.local_cluster import recon_jobs
from prep_platform_tests.support.dagster_results import run_prep

with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
    assert run_prep(build_definitions(), instance).success
    with dg.execute_job(dg.reconstructable(recon_jobs.latents_job), instance=instance,
                        tags={"dagster/partition": "crowd.0000"}) as result:
        events = result.all_events
        print(json.dumps({
            "success": result.success,
            "steps": sorted({e.step_key for e in events if e.event_type_value == "STEP_SUCCESS"}),
            "step_pids": sorted({e.pid for e in events if e.event_type_value == "STEP_START"}),
            "run_pid": next(e.pid for e in events if e.event_type_value == "PIPELINE_START"),
        }))
"""


@pytest.mark.slow
def test_latents_job_runs_on_its_multiprocess_executor(tmp_path):
    """The real executor (forkserver, gpu tag limit, gpu pool on a real instance), each step in its own process.

    A fresh interpreter: a forkserver keeps the environment it started with, so settings must be in place first.
    """
    import os
    import subprocess
    import sys

    env = dict(os.environ, PREP_PLATFORM_DATA_ROOT=str(tmp_path / "data"), PREP_PLATFORM_MSR_VTT_SOURCE="sample",
               PREP_PLATFORM_FRAME_SIZE="144x96", PREP_PLATFORM_FRAMES="9")
    done = subprocess.run([sys.executable, "-c", EXECUTOR_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["success"], done.stderr[-3000:]
    assert {"clip_frames", "clip_latents", "clip_latents_clip_latents_files_check"} <= set(report["steps"])
    assert report["run_pid"] not in report["step_pids"] and len(report["step_pids"]) >= 2  # steps in child processes
    assert (tmp_path / "data" / "prepared" / "latents" / "cogvideox" / "crowd" / "shard-0000" / "latents_manifest.json").exists()
