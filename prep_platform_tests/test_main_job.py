"""The README's main-job command, run in a temporary directory, materialises every asset offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prep_platform.lib.layout import DataLayout
from prep_platform.lib.stages.metadata import metadata_schema_problems
from prep_platform.lib.settings import DEMO_FRAME_SIZE
from prep_platform.lib.frame_config import FrameConfig, parse_size
from prep_platform_tests.support.cli_runs import CLI

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The set-up commands: the lines of the README's first code block under 'Quick start'."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    assert "prep_platform.main_job" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (REPO / ".ci" / "run").read_text()


def test_readme_main_job_command_materialises_every_asset(tmp_path):
    main_job = readme_commands()[0]
    run_part = main_job.split("&&")[-1].strip()  # the install steps ran already: this environment is installed
    assert run_part.startswith("python -m prep_platform.main_job")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("DAGSTER_HOME", None)
    env.pop("PREP_PLATFORM_MSR_VTT_SOURCE", None)
    env["HF_HUB_OFFLINE"] = "1"  # proves no network is needed
    result = subprocess.run(["bash", "-c", run_part], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SUCCESS: runs recorded" in result.stdout and "FAILED" not in result.stdout
    for asset in ("msr_vtt_raw", "scenario_metadata", "vatex_raw", "vatex_eval_prompts", "panda70m_instructions",
                  "panda70m_subset", "panda70m_shards"):
        assert f"materialised {asset}" in result.stdout
    from prep_platform.lib.scenarios import DEFAULT_SCENARIOS

    from prep_platform.defs.partitions import SHARDS_PER_RUN

    # The sample gives each scenario one shard (<scenario>.0000); they run as a backfill would: SHARDS_PER_RUN per run.
    shards = [f"{scenario}.0000" for scenario in DEFAULT_SCENARIOS]
    runs = -(-len(shards) // SHARDS_PER_RUN)
    assert f"latents_job[{shards[0]}...{shards[SHARDS_PER_RUN - 1]}] run" in result.stdout
    assert f"latents_job[{shards[-1]}] run" in result.stdout
    assert result.stdout.count("materialised clip_latents") == runs  # one line per run, naming its partitions
    listed = [line.strip().removeprefix("(clip_latents: ").rstrip(")").split(", ")
              for line in result.stdout.splitlines() if line.strip().startswith("(clip_latents: ")]
    assert [sorted(keys[1:]) for keys in listed] == [sorted(shards[:SHARDS_PER_RUN])]
    assert listed[0][1:] == sorted(listed[0][1:])  # the same order every run (Dagster emits them in any order)
    assert listed[0][0] == f"{SHARDS_PER_RUN} partitions"
    # Progress while it works: a line as each run starts, and the long steps' ~10% lines (never a stack trace),
    # each naming its shard (a run holds several) and counting what it counts.
    assert result.stdout.count("running latents_job[") == runs
    assert "msr_vtt_raw: extract + probe: 31/31 clips" in result.stderr
    for shard in shards:
        assert f"    clip_frames[{shard}]: frames: " in result.stderr and f"    clip_latents[{shard}]: latents: " in result.stderr
        assert re.search(rf"    prompt_embeddings\[{re.escape(shard)}\]: prompts: (\d+)/\1 prompts, ", result.stderr)
    assert "    clip_latents: latents:" not in result.stderr  # a line of a run of 4 shards, naming none
    assert re.search(r"    scenario_metadata: msr-vtt: labelling clips: (\d+)/\1 clips", result.stderr)
    assert not [line for line in result.stdout.splitlines() if line.rstrip().endswith("->")]  # every output named
    panda = next(line for line in result.stdout.splitlines() if line.startswith("  materialised panda70m_shards:"))
    assert panda.endswith(" -> data/raw/panda70m/ingested"), panda
    assert "Traceback" not in result.stderr + result.stdout
    # 14 unpartitioned checks, 4 per latents run (frame images, shot windows, prompts, latents: each over the run's
    # shards), 1 per export format.
    assert result.stdout.count(": passed") == 14 + 4 * runs + 4
    assert result.stdout.count("materialised prompt_embeddings") == runs
    assert result.stdout.count("materialised training_exports") == 4
    for export_format in ("cogvideox-factory", "cogvideo-finetune", "finetrainers", "diffusers-videos"):
        assert (tmp_path / "data/exports" / export_format / "export.json").exists()
    assert (tmp_path / "data/prepared/frames/cogvideox/urban/shard-0000/contact_sheet.png").exists()
    assert (tmp_path / "data/prepared/latents/cogvideox/urban/shard-0000/training_index.parquet").exists()

    from prep_platform.lib.stages.metadata import load_metadata_document

    document = load_metadata_document(tmp_path / "data/metadata/scenario_metadata.parquet")
    view = json.loads((tmp_path / "data/metadata/scenario_metadata.json").read_text())  # a view, not the store
    assert view["store"] == "scenario_metadata.parquet"
    assert {r["scenario"] for r in view["train"]} == set(DEFAULT_SCENARIOS)
    # The seed's record: every clip the assets prepared names its image and latent, where the run put them.
    assert all(r["built"] == {"image_path": True, "latent_path": True} for r in view["train"] if r["scenario"] == "urban")
    assert [r["video_id"] for r in view["train"]] == [r["video_id"] for r in document["train"]]
    assert metadata_schema_problems(document) == []
    assert len(document["train"]) >= 15 and len(document["validation"]) >= 5
    assert (tmp_path / ".dagster_home" / "dagster.yaml").exists()  # runs recorded for `dagster dev`
    record = document["train"][0]
    # The store names no frame-dependent path; its view names the latent and image where the run's layout put them.
    assert "latent_path" not in record and "image_path" not in record
    width, height = parse_size(DEMO_FRAME_SIZE)  # the demo's frame
    layout = DataLayout(tmp_path / "data", FrameConfig(width=width, height=height))
    shown = next(r for r in view["train"] if r["video_id"] == record["video_id"])
    assert tmp_path / shown["latent_path"] == layout.latent(record["scenario"], record["video_id"])
    assert tmp_path / shown["image_path"] == layout.image(record["scenario"], record["video_id"])
    assert layout.latent(record["scenario"], record["video_id"]).exists()
    assert layout.image(record["scenario"], record["video_id"]).exists()


def test_a_bad_scenarios_setting_is_one_line_from_the_main_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  urban: {keywords: [street]}\n  urban: {keywords: [city]}\n")
    env = {**os.environ, "PREP_PLATFORM_SCENARIOS": str(bad), "DAGSTER_HOME": str(tmp_path / "home")}
    done = subprocess.run(CLI + ["prep_platform.main_job", "--data-root", str(tmp_path / "data")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "PREP_PLATFORM_SCENARIOS" in lines[0] and "defined twice" in lines[0] and "Traceback" not in lines[0]


def test_a_failed_main_job_prints_one_line_per_failed_step_and_exits_non_zero(tmp_path):
    # The tiny models: with the Hub's data source the pretrained ones would be asked for, and refused before any run
    # (the next test); here the download step is the one to fail.
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "DAGSTER_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "0", "PREP_PLATFORM_VAE_PRESET": "tiny", "PREP_PLATFORM_TEXT_ENCODER_PRESET": "tiny"}
    env.pop("PREP_PLATFORM_SCENARIOS", None)
    done = subprocess.run(CLI + ["prep_platform.main_job", "--source", "hub", "--data-root", str(tmp_path / "data")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Traceback" not in output and len(output.splitlines()) < 40, output
    failed = [line for line in output.splitlines() if "FAILED:" in line]
    assert len(failed) == 1 and "step msr_vtt_raw FAILED: HubDownloadError: cannot download" in failed[0]
    assert "127.0.0.1:9" in failed[0]
    assert output.strip().splitlines()[-1].startswith("FAILURE")


@pytest.mark.parametrize("preset", ["PREP_PLATFORM_VAE_PRESET", "PREP_PLATFORM_TEXT_ENCODER_PRESET"])
def test_a_pretrained_model_that_cannot_be_had_is_refused_before_any_run(tmp_path, preset):
    """Offline, a main job asked for a pretrained model not in the cache says so at once (one line, exit 3), instead
    of running the downloads and the metadata first and failing in a step half a minute later."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "DAGSTER_HOME": str(tmp_path / "home"),
           "PREP_PLATFORM_VAE_PRESET": "tiny", "PREP_PLATFORM_TEXT_ENCODER_PRESET": "tiny", preset: "default"}
    done = subprocess.run(CLI + ["prep_platform.main_job", "--data-root", str(tmp_path / "data")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 3 and len(lines) == 1, lines
    model = "the VAE" if "VAE" in preset else "the text encoder"
    assert lines[0].startswith(f"prep_platform.main_job: error: {model} THUDM/CogVideoX-5b-I2V ") and "HF_HUB_OFFLINE" in lines[0]
    assert str(tmp_path / "hf") in lines[0] and not (tmp_path / "data").exists()  # nothing was run


@pytest.mark.parametrize("variable, value", [("PREP_PLATFORM_WORKERS", "-1"), ("PREP_PLATFORM_VAE_PRESET", "huge"),
                                             ("PREP_PLATFORM_SHARDS_PER_RUN", "0")])
def test_a_bad_setting_in_the_environment_is_one_line_and_exit_2(tmp_path, variable, value):
    env = {**os.environ, variable: value, "DAGSTER_HOME": str(tmp_path / "home")}
    done = subprocess.run(CLI + ["prep_platform.main_job", "--data-root", str(tmp_path / "data")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"prep_platform.main_job: error: {variable}={value!r}: ") and "Traceback" not in lines[0]
    assert not (tmp_path / "data").exists()  # nothing was run
