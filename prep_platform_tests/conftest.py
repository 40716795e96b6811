"""Shared fixtures: the embedded sample release (generated once per session) and a loopback Hub; the order in which
the test files go out to the xdist workers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from prep_platform.samples import DEMO_SAMPLE
from prep_platform_tests.support.hub_server import LoopbackHub

SAMPLE_REPO = "sample-org/MSR-VTT"

# The README runs the suite on two xdist workers, a test file to a worker (`--dist loadfile --no-loadscope-reorder`,
# pyproject.toml), in collection order. These files hold most of the suite's CPU time (CPU-seconds of a serial run on
# two cores): they go out first, so that neither worker is left with one of them while the other has finished.
LONGEST_FIRST = (
    "defs/test_distributed_backfill.py",  # ~370: a cluster of four Celery workers, its backfill also in one process
    "defs/test_distributed.py",  # ~290: a Celery cluster, its run also in one process; a worker killed mid-step
    "test_main_job.py",  # ~250: the README's main job on the sample
    "defs/test_ui_end_to_end.py",  # ~230: `dagster dev`, four runs through GraphQL, Chromium
    "defs/latents/test_assets.py",  # ~150: the latents job on the sample, on its multiprocess executor
    "integration/test_shells_agree.py",  # ~130: the tools and the jobs on the sample
    "integration/test_readme_commands.py",  # ~120: the README's commands in order
)


def pytest_configure(config: pytest.Config) -> None:
    """The cores shared out between the xdist workers (the README runs `-n 2` on two cores). torch and OpenMP size
    their thread pools to the machine's cores, so each worker, and every tool, Celery worker and `dagster dev` a test
    starts (they inherit this environment), ran two compute threads on two cores already busy with the other
    worker's: four threads spinning against each other for two cores. Measured on two cores, the README main job and
    the two shells compared, run side by side on two workers: see the README's suite figures. Set here, in each
    worker before its tests import torch (OpenMP reads the variable once, when it loads); a value the user set is
    kept; one process (`python -m pytest`) keeps every core."""
    workers = getattr(config, "workerinput", {}).get("workercount")
    if workers:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope: files stay whole
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    first = {tests / name: rank for rank, name in enumerate(LONGEST_FIRST)}
    missing = [name for name in LONGEST_FIRST if not (tests / name).exists()]
    assert not missing, f"LONGEST_FIRST names files that are gone: {missing}"
    # sorted() is stable: the other files keep their order, and each file its tests' order.
    items[:] = sorted(items, key=lambda item: first.get(item.path, len(first)))


@pytest.fixture(scope="session", autouse=True)
def sample_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded sample generated once for the whole run (PREP_PLATFORM_SAMPLE_CACHE, in the folder both xdist
    workers share) and copied into each data root made from it, by the tests and by every process they start: its
    MSR-VTT part is ~10 s of CPU, and the suite makes dozens of such roots."""
    from prep_platform.samples import SAMPLE_CACHE_VARIABLE

    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "sample-cache"
    os.environ.setdefault(SAMPLE_CACHE_VARIABLE, str(cache))
    return cache


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory: pytest.TempPathFactory, sample_cache: Path) -> Path:
    return DEMO_SAMPLE.msr_vtt_release(tmp_path_factory.mktemp("sample") / "release")


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
