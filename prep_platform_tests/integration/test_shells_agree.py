"""The two shells cannot drift apart: the command-line tools and the Dagster jobs, run on the same embedded sample
with the same settings into two data roots, leave the same files, file for file (paths relative to each root;
timings, timestamps and run ids aside)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from prep_platform.definitions import build_definitions
from prep_platform.defs.partitions import shard_partitions
from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource, VaeResource
from prep_platform.samples import SAMPLE_CACHE_VARIABLE
from prep_platform_tests.support.dagster_results import run_prep
from prep_platform_tests.support.file_comparison import comparable, files_under

REPO = Path(__file__).resolve().parents[2]
SIZE, FRAMES = "144x96", 9


def _cli(*args: str, env: dict) -> None:
    result = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args[0]} exited {result.returncode}:\n{result.stderr[-3000:]}"


def run_the_command_line_tools(root: Path) -> None:
    # No setting from outside, but the sample cache (where the sample is generated once: the same bytes).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREP_PLATFORM_") or k == SAMPLE_CACHE_VARIABLE}
    data = ["--data-root", str(root)]
    geometry = ["--size", SIZE, "--frames", str(FRAMES)]
    # The clip length a download keeps follows the window: the same frames and fps everywhere.
    _cli("prep_platform.data_prep.download_msr_vtt", *data, "--source", "sample", "--frames", str(FRAMES), env=env)
    _cli("prep_platform.data_prep.download_panda70m", *data, "--sample", "--ingest-shards", "--frames", str(FRAMES), env=env)
    _cli("prep_platform.data_prep.build_scenario_metadata", *data, *geometry, env=env)
    _cli("prep_platform.data_prep.preprocess_video_latents", *data, *geometry, "--workers", "1", "--encode-latents",
         "--vae-preset", "tiny", env=env)
    _cli("prep_platform.data_prep.encode_prompts", *data, "--text-encoder-preset", "tiny", env=env)


def run_the_dagster_jobs(root: Path) -> None:
    settings = PrepPlatformSettings(data_root=str(root), msr_vtt_source="sample", frame_size=SIZE, frames=FRAMES, workers=1)
    defs = build_definitions(settings, VaeResource(preset="tiny"), TextEncoderResource(preset="tiny"))
    with dg.instance_for_test() as instance:
        assert run_prep(defs, instance).success
        for key in instance.get_dynamic_partitions(shard_partitions.name):
            result = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key=key)
            assert result.success, key


@pytest.mark.slow
def test_cli_and_dagster_write_the_same_files(tmp_path):
    cli_root, dagster_root = tmp_path / "cli", tmp_path / "dagster"
    run_the_command_line_tools(cli_root)
    run_the_dagster_jobs(dagster_root)
    assert_same_files(cli_root, dagster_root)


def assert_same_files(cli_root: Path, dagster_root: Path) -> None:
    cli_files, dagster_files = files_under(cli_root), files_under(dagster_root)
    # Dagster also runs VATEX (sample) and its evaluation prompts, which download_vatex does on the command line.
    vatex_and_eval = {p for p in dagster_files if p.parts[:2] == ("raw", "vatex") or p.parts[0] == "eval"}
    assert sorted(map(str, cli_files ^ (dagster_files - vatex_and_eval))) == []
    for must in ("metadata/scenario_metadata.parquet", "metadata/scenario_metadata.json",
                 "metadata/scenario_metadata.report.json",
                 "prepared/prompt_embeds/manifests/cogvideox/urban/shard-0000.json",
                 "prepared/frames/cogvideox/urban/shard-0000/frames_manifest.json", "prepared/latents/cogvideox/urban/shard-0000/latents_manifest.json",
                 "prepared/latents/cogvideox/urban/shard-0000/training_index.parquet",
                 "prepared/frames/cogvideox/urban/shard-0000/frames_manifest.parquet",
                 "prepared/latents/cogvideox/urban/shard-0000/latents_manifest.parquet",
                 "prepared/prompt_embeds/manifests/cogvideox/urban/shard-0000.parquet"):
        assert Path(must) in cli_files, must
    assert any(p.suffix == ".npz" for p in cli_files) and any(p.suffix == ".png" for p in cli_files)
    assert all(list((root / "cache" / "labels").rglob("part-*.npz")) for root in (cli_root, dagster_root))
    different = [str(p) for p in sorted(cli_files)
                 if comparable(cli_root / p, cli_root) != comparable(dagster_root / p, dagster_root)]
    assert different == []


def test_both_shells_take_names_defaults_and_meanings_from_the_settings(monkeypatch):
    from prep_platform.data_prep import (
        build_scenario_metadata,
        download_msr_vtt,
        download_panda70m,
        download_vatex,
        encode_prompts,
        preprocess_video_latents,
    )
    from prep_platform.lib.settings import NESTED_SETTINGS, PrepSettings

    for name in [k for k in os.environ if k.startswith("PREP_PLATFORM_")]:
        monkeypatch.delenv(name)
    defaults = PrepSettings()
    # The Dagster resources: every setting, the same default and description; the models' settings nested in
    # PrepSettings are the fields of the model's own resource.
    resources = {None: PrepPlatformSettings, "vae": VaeResource, "text_encoder": TextEncoderResource}
    for owner, model in ((None, PrepSettings), *NESTED_SETTINGS.items()):
        for name, info in model.model_fields.items():
            if owner is None and name in NESTED_SETTINGS:
                assert name not in PrepPlatformSettings.model_fields
                continue
            resource_field = resources[owner].model_fields[name]
            assert (resource_field.default, resource_field.description) == (info.default, info.description), name
    # The model options: generated from the nested settings, defaulting to theirs.
    for tool, owner in ((preprocess_video_latents, "vae"), (encode_prompts, "text_encoder")):
        nested = {a.dest.split(".", 1)[1]: a for a in tool.build_parser()._actions if a.dest.startswith(owner + ".")}
        assert {"preset", "model_id", "device", "dtype", "batch_size"} <= set(nested), tool.__name__
        for field, action in nested.items():
            info = NESTED_SETTINGS[owner].model_fields[field]
            assert action.default == getattr(getattr(defaults, owner), field) and info.description[:40] in action.help
    args, parsed = preprocess_video_latents.build_parser().parse(["--batch-size", "4", "--tiling", "--vae-preset", "low_memory"])
    assert (parsed.vae.batch_size, parsed.vae.tiling, parsed.vae_preset()) == (4, True, "low_memory")
    assert parsed.vae_settings().resolved().slicing is True and parsed.text_encoder == defaults.text_encoder
    # The tools: an option per setting they take, defaulting to the setting's default.
    taken = set()
    for tool in (download_msr_vtt, download_vatex, download_panda70m, build_scenario_metadata, preprocess_video_latents):
        for action in tool.build_parser()._actions:
            if action.dest in PrepSettings.model_fields:
                taken.add(action.dest)
                assert action.default == getattr(defaults, action.dest), (tool.__name__, action.dest)
                assert PrepSettings.model_fields[action.dest].description.split(" (")[0][:40] in action.help
    assert {"frame_size", "frames", "fps", "splits", "augment", "workers", "metadata_limit", "validation_ratio",
            "msr_vtt_limit", "vatex_download_videos", "scenarios_file"} <= taken
