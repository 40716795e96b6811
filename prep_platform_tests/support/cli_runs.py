"""Running the command-line tools as a user does (real subprocesses) on small real inputs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from prep_platform.samples.synthetic_clips import write_clip

CLI = [sys.executable, "-m"]


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m <args>` in `cwd` with this environment."""
    return subprocess.run(CLI + list(args), cwd=cwd, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def metadata_file_of_clips(tmp_path: Path, clips: int, seconds: float = 3.0) -> Path:
    """A scenario metadata JSON of `clips` textured 160x120 H.264 clips, all urban and train."""
    records = []
    (tmp_path / "clips").mkdir(exist_ok=True)
    for n in range(clips):
        clip = tmp_path / "clips" / f"video{n}.mp4"
        write_clip(clip, width=160, height=120, fps=Fraction(24), seconds=seconds, seed=n, textured=True)
        records.append({"video_id": f"video{n}", "scenario": "urban", "split": "train", "video_path": str(clip),
                        "caption": "a street", "prompt_variants": ["a street"]})
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({"train": records, "validation": []}))
    return path


def run_preprocess(metadata: Path, out: Path, *extra: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """preprocess_video_latents on the urban clips of `metadata`, 9 frames at 144x96, in-process decoding."""
    return subprocess.run(
        CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
               str(out / "latents"), "--size", "144x96", "--frames", "9", "--workers", "0", "--scenario", "urban", *extra],
        capture_output=True, text=True, timeout=timeout,
    )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe goes
