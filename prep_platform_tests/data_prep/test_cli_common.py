"""What every tool shares (data_prep/_cli.py): help with every default and the exit statuses, options generated from
the settings, and which errors are the machine's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from prep_platform_tests.support.cli_runs import run_module


def test_help_lists_the_documented_options(tmp_path):
    result = run_module("prep_platform.data_prep.download_msr_vtt", "--help", cwd=tmp_path)
    for option in ("--output-dir", "--limit", "--repo-id", "--revision", "--source"):
        assert option in result.stdout
    result = run_module("prep_platform.data_prep.build_scenario_metadata", "--help", cwd=tmp_path)
    for option in ("--msr-vtt", "--scenarios", "--output", "--limit", "--validation-ratio"):
        assert option in result.stdout


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


@pytest.mark.parametrize("tool", ["download_msr_vtt", "download_vatex", "download_panda70m", "build_scenario_metadata",
                                  "preprocess_video_latents"])
def test_help_shows_every_default_and_the_exit_statuses(tool):
    from importlib import import_module

    parser = import_module(f"prep_platform.data_prep.{tool}").build_parser()
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            formatted = parser._get_formatter()._expand_help(action) if action.help else ""
            assert "default" in formatted.lower(), f"{tool} {action.option_strings[0]}: {formatted!r}"
    flat = " ".join(text.split())
    assert "exit status: 0 done" in flat and "; 3 some clips failed for a reason of the machine" in flat
    if tool == "preprocess_video_latents":
        for preset in ("default", "low_memory", "tiny", "random_full"):
            assert f"{preset}:" in text, preset


def test_an_error_caused_by_a_full_disk_is_the_machines(tmp_path):
    import errno

    from prep_platform.data_prep._cli import is_environment_error
    from prep_platform.lib.files.hub import HubDownloadError

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise HubDownloadError("download interrupted after 10 of 20 bytes") from exc
    except HubDownloadError as wrapped:
        assert is_environment_error(wrapped)
    assert not is_environment_error(HubDownloadError("the repository does not exist"))
    assert not is_environment_error(FileNotFoundError(errno.ENOENT, "no such metadata file"))


def test_a_bad_setting_in_the_environment_is_one_line_and_exit_2(tmp_path):
    for tool in ("preprocess_video_latents", "encode_prompts", "download_msr_vtt"):
        done = subprocess.run([sys.executable, "-m", f"prep_platform.data_prep.{tool}", "--help"], cwd=tmp_path,
                              env={**os.environ, "PREP_PLATFORM_WORKERS": "-1"}, capture_output=True, text=True, timeout=120)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and lines == [f"{tool}: error: PREP_PLATFORM_WORKERS='-1': Input should be greater "
                                                  "than or equal to 0"], (tool, done.stderr[-2000:])


@pytest.mark.parametrize("module, args, line", [
    ("prep_platform.data_prep.export_training_set", ["--fromat", "cogvideox-factory"],
     "export_training_set: error: unrecognized argument --fromat; did you mean --format?"),
    ("prep_platform.data_prep.export_training_set", ["--format", "cogvidoex-factory"],
     "export_training_set: error: argument --format: invalid choice 'cogvidoex-factory'; did you mean "
     "cogvideox-factory? (choose from cogvideo-finetune, cogvideox-factory, diffusers-videos, finetrainers)"),
    ("prep_platform.data_prep.preprocess_video_latents", ["--vae-preset", "tinny"],
     "preprocess_video_latents: error: argument --vae-preset: invalid choice 'tinny'; did you mean tiny? (choose from "
     "default, low_memory, tiny, random_full)"),
    ("prep_platform.data_prep.download_msr_vtt", ["--limt=5"],
     "download_msr_vtt: error: unrecognized argument --limt; did you mean --limit?"),
    ("prep_platform.data_prep.evaluate_labels", ["--refrence", "a.jsonl", "--predicted", "b.jsonl"],
     "evaluate_labels: error: unrecognized argument --refrence; did you mean --reference?"),
    ("prep_platform.main_job", ["--data-rot", "x"],
     "prep_platform.main_job: error: unrecognized argument --data-rot; did you mean --data-root?"),
    ("prep_platform.data_prep.encode_prompts", ["--qqqq"], "encode_prompts: error: unrecognized argument --qqqq"),
])
def test_a_mistyped_option_or_value_is_one_line_with_the_closest_valid_one(tmp_path, module, args, line):
    """argparse printed 10-12 lines of usage and never a suggestion; a typo that hides a required option (`--fromat`
    for `--format`) was told as the missing option."""
    done = run_module(module, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.splitlines() == [line]
    assert not (tmp_path / "x").exists() and not (tmp_path / "data").exists()  # nothing was run
