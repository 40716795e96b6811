"""The README's command-line examples run as written, in order, on a fresh data root, and chain: each reads what the
one before wrote. Then the seed's three MSR-VTT commands, verbatim, on the same root. Real subprocesses, the real
Hugging Face client on a loopback Hub serving the sample under the README's repo names, the tiny models."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from prep_platform.lib.exports.formats import FORMATS
from prep_platform.samples.vatex import generate_vatex_sample
from prep_platform_tests.support.hub_server import LoopbackHub

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
SEED_FIELDS = ["video_path", "image_path", "caption", "prompt_variants", "scenario", "latent_path"]
# The placeholders the README leaves to the user, as this test fills them.
PLACEHOLDERS = {"<annotation repo>": "sample-org/VATEX"}
# Added to the frame stage's commands: a small size and short windows keep the CPU run short (the tiny models come
# from the environment); argparse takes the last of a repeated option.
SMALL = ["--size", "96x64", "--frames", "9"]
# The seed's commands (shared/reference/seed.md), verbatim but for the package name: `src` there, `prep_platform` here.
SEED_COMMANDS = [
    "python -m prep_platform.data_prep.download_msr_vtt --output-dir data/raw/msr-vtt --limit 1500",
    "python -m prep_platform.data_prep.build_scenario_metadata --msr-vtt data/raw/msr-vtt --scenarios "
    "configs/data/scenarios.yaml --output data/metadata/scenario_metadata.json --limit 1500 --validation-ratio 0.1",
    "python -m prep_platform.data_prep.preprocess_video_latents --metadata data/metadata/scenario_metadata.json "
    "--split train --output-dir data/prepared/latents --fps 8 --size 720x480 --augment --encode-latents",
]


def readme_commands() -> list[str]:
    """Every `python -m prep_platform.data_prep...` command of the README's bash blocks, in order, with its
    continuation lines joined and its optional `[...]` parts left out."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if line.startswith("python -m prep_platform.data_prep."):
                command = re.sub(r"\s*#.*$", "", line)
                commands.append(" ".join(re.sub(r"\[[^\]]*\]", " ", command).split()))
    return commands


def as_argv(command: str) -> list[str]:
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    assert "<" not in command, f"a placeholder this test has no value for: {command}"
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-m"]
    # Files the README names inside the repository (the hand-labelled development set).
    argv = [str(REPO_ROOT / arg) if arg.startswith("prep_platform/") else arg for arg in argv]
    if argv[2].endswith(".preprocess_video_latents"):
        argv += SMALL
    return [sys.executable, *argv[1:]]


@pytest.fixture
def hub(sample_release, tmp_path):
    vatex = generate_vatex_sample(tmp_path / "vatex-release")
    hub = LoopbackHub(repos={"friedrichor/MSR-VTT": sample_release, "sample-org/VATEX": vatex}).start()
    yield hub
    hub.stop()


def run(argv: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    print(f"{time.perf_counter() - started:6.1f} s  {' '.join(argv[2:4])}")  # shown with -s: where the test's time goes
    assert done.returncode == 0, f"{' '.join(argv[1:])} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    return done


def check_every_index_full(root: Path, splits: set[str]) -> int:
    """Each shard's training index holds every sample of its clips that the frame stage made in the splits run."""
    store = pq.read_table(root / "metadata" / "scenario_metadata.parquet", columns=["scenario", "shard", "split"]).to_pylist()
    shards = {(r["scenario"], r["shard"]) for r in store if r["split"] in splits}
    assert shards
    total = 0
    for scenario, shard in shards:
        folder = f"cogvideox/{scenario}/shard-{shard:04d}"  # the default model profile's folders
        frames = pq.read_table(root / "prepared" / "frames" / folder / "frames_manifest.parquet").to_pylist()
        ok = {row["sample_id"] for row in frames if row["status"] == "ok"}
        index = pq.read_table(root / "prepared" / "latents" / folder / "training_index.parquet").to_pylist()
        assert ok and {row["sample_id"] for row in index} == ok, folder
        assert {row["split"] for row in index} <= splits
        total += len(index)
    return total


def check_seed_record(root: Path, cwd: Path) -> dict:
    """`jq '.train[0]' data/metadata/scenario_metadata.json`: the seed's six fields, the files there."""
    record = json.loads((root / "metadata" / "scenario_metadata.json").read_text())["train"][0]
    assert list(record)[:6] == SEED_FIELDS
    assert record["built"] == {"image_path": True, "latent_path": True}
    for field in ("video_path", "image_path", "latent_path"):
        assert (cwd / record[field]).is_file(), field
    assert record["prompt_variants"][0] == record["caption"] and record["scenario"] in record["latent_path"]
    return record


@pytest.mark.slow
def test_the_readme_commands_then_the_seed_commands_chain_as_written(hub, tmp_path):
    commands = readme_commands()
    tools = [c.split()[2].rsplit(".", 1)[1] for c in commands]
    assert tools == ["download_msr_vtt", "download_vatex", "download_panda70m", "download_panda70m",
                     "build_scenario_metadata", "preprocess_video_latents", "label_captions", "evaluate_labels",
                     "encode_prompts", "export_training_set"]
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1",
           "PREP_PLATFORM_VAE_PRESET": "tiny", "PREP_PLATFORM_TEXT_ENCODER_PRESET": "tiny",
           "PREP_PLATFORM_PANDA_SAMPLE": "true"}  # the Panda-70M sample stands for a user's CSV and shards
    env.pop("HF_TOKEN", None)
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    root = cwd / "data"
    for command in commands:
        formats = FORMATS if "<format>" in command else [None]
        for export_format in formats:
            run(as_argv(command.replace("<format>", export_format or "")), cwd, env)

    assert check_every_index_full(root, {"train", "validation"}) > 0
    check_seed_record(root, cwd)
    assert any(r.path.endswith("MSRVTT_Videos.zip") for r in hub.log)  # the README's repo, through the Hub client
    panda = json.loads((root / "metadata" / "scenario_metadata.report.json").read_text())["counts"]["per_dataset"]
    assert panda.get("panda-70m", 0) > 0  # the ingested shards joined MSR-VTT
    for export_format in FORMATS:
        export = json.loads((root / "exports" / export_format / "export.json").read_text())
        assert export["counts"]["stems"] > 0

    # The seed's own commands on the same root: they run as written and end with every index full.
    for command in SEED_COMMANDS:
        run(as_argv(command), cwd, env)
    check_every_index_full(root, {"train"})
    check_seed_record(root, cwd)
