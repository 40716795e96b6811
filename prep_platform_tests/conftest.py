"""Shared fixtures: the embedded sample release (generated once per session) and a loopback Hub."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from prep_platform.samples.msr_vtt import generate_sample_release
from prep_platform_tests.support.hub_server import LoopbackHub

SAMPLE_REPO = "sample-org/MSR-VTT"


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_sample_release(tmp_path_factory.mktemp("sample") / "release")


@pytest.fixture
def loopback_hub(sample_release: Path, monkeypatch: pytest.MonkeyPatch):
    hub = LoopbackHub(repos={SAMPLE_REPO: sample_release}).start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield hub
    hub.stop()


@pytest.fixture
def msr_vtt_raw_dir(sample_release: Path, tmp_path: Path) -> Path:
    """A finished raw folder made from the sample (as a local source) for the metadata tests."""
    from prep_platform.lib.sources.msr_vtt import MsrVttSourceConfig, download_msr_vtt

    out = tmp_path / "raw" / "msr-vtt"
    download_msr_vtt(out, config=MsrVttSourceConfig(source=str(sample_release)), limit=None)
    return out


@pytest.fixture
def copy_of(tmp_path: Path):
    def _copy(src: Path) -> Path:
        dest = tmp_path / ("copy-" + src.name)
        shutil.copytree(src, dest)
        return dest

    return _copy


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system (tmpfs): writing to it fails with ENOSPC like a full disk. Needs root to mount."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
