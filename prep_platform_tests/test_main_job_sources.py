"""The main job switched to the Hub on a data root made from the sample, offline: a failed download never deletes or
rewrites what the earlier run produced, and the pretrained models that `hub` asks for are refused before any run."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from prep_platform.definitions import build_definitions
from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource, VaeResource
from prep_platform_tests.support.cli_runs import CLI


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes): what "byte for byte" compares."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    """A data root whose raw folder the sources job made from the sample (MSR-VTT, VATEX, Panda-70M)."""
    root = tmp_path_factory.mktemp("sample-root") / "data"
    # The default data root, ./data, as the main job below is run (the reports name their paths as given).
    settings = PrepPlatformSettings(data_root="data", msr_vtt_source="sample")
    defs = build_definitions(settings, VaeResource(preset="tiny"), TextEncoderResource(preset="tiny"))
    with contextlib.chdir(root.parent), dg.instance_for_test() as instance:
        assert defs.resolve_job_def("sources_job").execute_in_process(instance=instance).success
    assert (root / "raw/vatex/vatex_manifest.json").exists()
    return root


def run_main_job(root: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`PREP_PLATFORM_MSR_VTT_SOURCE=hub HF_HUB_OFFLINE=1 python -m prep_platform.main_job` where the data root is the
    default one, ./data, as the README runs it."""
    assert root.name == "data"
    environment = {**os.environ, "PREP_PLATFORM_MSR_VTT_SOURCE": "hub", "HF_HUB_OFFLINE": "1",
                   "HF_HOME": str(tmp_path / "hf"), "DAGSTER_HOME": str(tmp_path / "home"), **env}
    for name in ("PREP_PLATFORM_VAE_PRESET", "PREP_PLATFORM_TEXT_ENCODER_PRESET", "PREP_PLATFORM_VATEX_REPO",
                 "PREP_PLATFORM_VATEX_SOURCE", "PREP_PLATFORM_DATA_ROOT"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(CLI + ["prep_platform.main_job"], cwd=root.parent, env=environment, capture_output=True,
                          text=True, timeout=300)


def test_a_failed_hub_download_leaves_the_earlier_sample_files_byte_for_byte(sample_root, tmp_path):
    """`hub` offline: the MSR-VTT download fails (exit 1, one line for the step), and VATEX, which has no Hub repo
    configured, is `not_configured`; neither deletes nor rewrites a file of the sample's raw folder (the VATEX
    manifest was deleted and its report rewritten as not_configured)."""
    before = folder_bytes(sample_root / "raw")
    # The tiny models, so the job gets as far as the downloads (the pretrained ones are refused first: next test).
    done = run_main_job(sample_root, tmp_path, PREP_PLATFORM_VAE_PRESET="tiny", PREP_PLATFORM_TEXT_ENCODER_PRESET="tiny")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "step msr_vtt_raw FAILED: HubDownloadError: cannot download" in output and "Traceback" not in output
    assert "materialised vatex_raw: {'state': 'not_configured'" in output  # the state is said, in the run's record
    after = folder_bytes(sample_root / "raw")
    assert sorted(after) == sorted(before)  # nothing deleted, nothing added
    changed = [name for name in before if after[name] != before[name]]
    assert changed == []


def test_hub_asks_for_the_pretrained_models_and_refuses_them_before_any_run(sample_root, tmp_path):
    """On the sample's data root, `hub` used to keep the tiny VAE (the data root's report said sample) and encode the
    Hub's clips with it once they were downloaded. The source decides: the pretrained VAE, refused up front offline
    in one line, exit 3, before any run (the raw folder untouched)."""
    before = folder_bytes(sample_root / "raw")
    done = run_main_job(sample_root, tmp_path)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 3 and len(lines) == 1, lines
    assert lines[0].startswith("prep_platform.main_job: error: the VAE THUDM/CogVideoX-5b-I2V ")
    assert "HF_HUB_OFFLINE" in lines[0] and str(tmp_path / "hf") in lines[0]
    assert not (tmp_path / "home" / "history").exists()  # no run was recorded
    assert folder_bytes(sample_root / "raw") == before
