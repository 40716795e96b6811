"""A backfill on the `distributed` profile with real services on loopback: PostgreSQL instance storage, a Redis
broker, two Celery workers serving `cpu` and two serving only `gpu` (here the "gpu" workers run the tiny VAE on CPU).
A file of its own (not in test_distributed.py): the suite gives each worker a file, and the two clusters' tests
together ran eleven minutes on one worker while the other had finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prep_platform.deploy.local_cluster.cluster import running_cluster
from prep_platform.deploy.local_cluster.services import missing_services

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "ok")]


def _env(base: dict, **extra) -> dict:
    return {**os.environ, **base, **extra}


def _backfill_step(env: dict, *args: str, timeout: float = 600) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "prep_platform.deploy.local_cluster.backfill_step", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _report(process: subprocess.Popen, timeout: float = 600) -> dict:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-4000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["success"], stderr[-4000:]
    return report


def test_a_backfill_of_two_scenarios_by_two_shards_encodes_on_two_gpu_workers_at_once(tmp_path_factory, tmp_path):
    """Shards of 3 clips, 2 shards per backfill run: a backfill of urban and crowd (2 shards each) is 2 runs; with
    two `gpu` workers (and the gpu pool's limit at 2, one per GPU) their clip_latents steps run at the same time, on
    different workers, each run building the VAE once for its 2 shards; the files equal a one-process run's."""
    from prep_platform.defs.partitions import shard_run_ranges
    from prep_platform_tests.support.file_comparison import comparable, files_under

    # 25 frames at 192x128: a GPU step long enough to see two at once (the tiny VAE runs on CPU here: ~1 s a clip, 6
    # clips a run, after ~6 s of loading; the two steps start within a second of each other), short enough not to
    # double the test (49 frames at 240x160 took 45 s a step and 80 s more in all); two cpu
    # workers, so both runs' frame steps run at once and their GPU steps start together. The runs hold the frame,
    # latent and index steps: clip_latents is then each run's one `gpu` step (prompt embeddings, the other, would
    # take a gpu worker for a moment and make the order of the two latent steps a matter of timing).
    sharding = {"PREP_PLATFORM_SHARD_SIZE": "3", "PREP_PLATFORM_SHARDS_PER_RUN": "2",
                "PREP_PLATFORM_FRAME_SIZE": "192x128", "PREP_PLATFORM_FRAMES": "25"}
    assets = "--assets=clip_frames,clip_latents,training_index"
    queues = [("cpuA", "cpu,dagster"), ("cpuB", "cpu,dagster"), ("gpuA", "gpu"), ("gpuB", "gpu")]
    # The production visibility timeout: with the 8 s one the worker-kill test needs, Redis hands a GPU step that runs
    # longer than 8 s (a loaded machine) to the other GPU worker as well, which then finds its caches current and
    # writes "skipped" rows where the one-process run has "encoded" ones.
    with running_cluster(tmp_path_factory.mktemp("sharded"), sharding, queues, visibility_timeout=3600) as cluster:
        env, shared = _env(cluster["base"]), cluster["data"]
        subprocess.run([str(Path(sys.executable).parent / "dagster"), "instance", "concurrency", "set", "gpu", "2"],
                       cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
        prep = _report(_backfill_step(env, "prep"))
        by_scenario: dict[str, list[str]] = {}
        for key in prep["shards"]:
            by_scenario.setdefault(key.rpartition(".")[0], []).append(key)
        assert len(by_scenario["urban"]) == 2 and len(by_scenario["crowd"]) == 2, prep["shards"]
        ranges = shard_run_ranges(by_scenario["urban"], 2) + shard_run_ranges(by_scenario["crowd"], 2)
        assert ranges == [("urban.0000", "urban.0001"), ("crowd.0000", "crowd.0001")]
        runs = [_backfill_step(env, first, last, assets) for first, last in ranges]  # launched together, as a backfill does
        reports = [_report(run) for run in runs]
    gpu_workers = {report["workers"]["clip_latents"].split("@")[0] for report in reports}
    assert gpu_workers == {"gpuA", "gpuB"}, [report["workers"] for report in reports]
    (start_a, end_a), (start_b, end_b) = (report["intervals"]["clip_latents"] for report in reports)
    assert max(start_a, start_b) < min(end_a, end_b), reports  # the two GPU steps ran at the same time
    for report in reports:
        assert report["clip_latents"]["model_loads"] == 1 and report["clip_latents"]["encoded"] > 0, report

    # The same backfill in one process, one run after the other: the same files, file for file.
    local_home, local_data = tmp_path / "home", tmp_path / "local"
    local_home.mkdir()
    local_env = _env(cluster["base"], DAGSTER_HOME=str(local_home), PREP_PLATFORM_DEPLOYMENT="local",
                     PREP_PLATFORM_DATA_ROOT=str(local_data))
    assert _report(_backfill_step(local_env, "prep", "--in-process"))["shards"] == prep["shards"]
    for first, last in ranges:
        _report(_backfill_step(local_env, first, last, assets, "--in-process"))
    for folder in ("metadata", "prepared"):
        ours, theirs = files_under(shared / folder), files_under(local_data / folder)
        assert ours == theirs and ours
        different = {str(p): _differing_keys(comparable(shared / folder / p, shared), comparable(local_data / folder / p, local_data))
                     for p in sorted(ours)
                     if comparable(shared / folder / p, shared) != comparable(local_data / folder / p, local_data)}
        assert different == {}


def _differing_keys(ours, theirs) -> list:
    """Where two comparable files differ (top-level keys, or the first differing row of a list): a readable failure."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if isinstance(ours, list) and isinstance(theirs, list):
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        return [first, _differing_keys(ours[first], theirs[first]) if first < min(len(ours), len(theirs)) else "length"]
    return ["content"]
