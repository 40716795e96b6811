"""The command-line tools as a user runs them: real subprocesses, real files, the loopback Hub via HF_ENDPOINT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prep_platform_tests.conftest import SAMPLE_REPO


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


def test_download_then_build_metadata_from_the_command_line(loopback_hub, tmp_path):
    download = _run(
        "prep_platform.data_prep.download_msr_vtt", "--output-dir", "data/raw/msr-vtt", "--limit", "1500",
        "--repo-id", SAMPLE_REPO, cwd=tmp_path,
    )
    assert download.returncode == 0, download.stderr
    summary = json.loads(download.stdout)
    assert summary["counts"]["ok"] >= 20 and summary["counts"]["truncated"] == 1
    assert "extract + probe" in download.stderr and "video24: missing" in download.stderr  # progress and failures shown
    assert any(entry.path.endswith("MSRVTT_Videos.zip") for entry in loopback_hub.log)  # HF_ENDPOINT honoured

    build = _run(
        "prep_platform.data_prep.build_scenario_metadata", "--msr-vtt", "data/raw/msr-vtt",
        "--output", "data/metadata/scenario_metadata.json", "--limit", "1500", "--validation-ratio", "0.1", cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    document = json.loads((tmp_path / "data/metadata/scenario_metadata.json").read_text())
    record = document["train"][0]
    assert record["latent_path"] == f"data/prepared/latents/{record['scenario']}/{record['video_id']}.npz"
    assert (tmp_path / record["video_path"]).exists()


def test_bad_scenarios_file_fails_with_a_message_not_a_traceback(msr_vtt_raw_dir, tmp_path):
    scenarios = tmp_path / "my_scenarios.yaml"
    scenarios.write_text("scenarios:\n  urban:\n    keywords: [city]\n    colour: blue\n")
    output = tmp_path / "out.json"
    result = _run(
        "prep_platform.data_prep.build_scenario_metadata", "--msr-vtt", str(msr_vtt_raw_dir),
        "--scenarios", str(scenarios), "--output", str(output), cwd=tmp_path,
    )
    assert result.returncode == 2
    assert str(scenarios) in result.stderr and "scenarios.urban.colour" in result.stderr and "unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()


def test_missing_repo_fails_with_a_message(loopback_hub, tmp_path):
    result = _run("prep_platform.data_prep.download_msr_vtt", "--repo-id", "ghost/repo", "--output-dir", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "'ghost/repo'" in result.stderr and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_documented_options(tmp_path):
    result = _run("prep_platform.data_prep.download_msr_vtt", "--help", cwd=tmp_path)
    for option in ("--output-dir", "--limit", "--repo-id", "--revision", "--source"):
        assert option in result.stdout
    result = _run("prep_platform.data_prep.build_scenario_metadata", "--help", cwd=tmp_path)
    for option in ("--msr-vtt", "--scenarios", "--output", "--limit", "--validation-ratio"):
        assert option in result.stdout


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


def test_help_never_shows_a_default_for_a_required_option_and_describes_every_option():
    import importlib
    import re

    tools = ["download_msr_vtt", "download_vatex", "download_panda70m", "build_scenario_metadata",
             "preprocess_video_latents", "encode_prompts", "export_training_set", "label_captions", "evaluate_labels"]
    for tool in tools:
        parser = importlib.import_module(f"prep_platform.data_prep.{tool}").build_parser()
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help and action.help.strip() != "default: %(default)s", (tool, action.option_strings)
            if action.required:
                options = text.split("options:", 1)[1]
                block = options.split(f"\n  {action.option_strings[0]}", 1)[1].split("\n  -", 1)[0]
                assert "(required)" in block and "default: None" not in block, (tool, block)
        assert not re.search(r"frame and latent stages prepare", text), tool  # the split setting reads right everywhere
