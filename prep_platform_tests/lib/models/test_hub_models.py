"""A pretrained model that cannot be fetched (offline, or the Hub out of reach): one line, exit 3, at once."""

from __future__ import annotations

import os
import subprocess
import time
import pytest
from prep_platform_tests.support.cli_runs import CLI, closed_port, metadata_file_of_clips


@pytest.mark.parametrize("network", ["HF_HUB_OFFLINE", "unreachable"])
@pytest.mark.parametrize("tool", ["encode_prompts", "preprocess_video_latents"])
def test_a_pretrained_model_that_cannot_be_fetched_exits_3_in_one_line_within_seconds(tmp_path, tool, network):
    """Offline (HF_HUB_OFFLINE) or with the Hub out of reach, a tool asked for the pretrained model fails at once:
    one line naming the model, the cache it looked in and the cause, exit 3; no minute of retries, no traceback."""
    metadata = metadata_file_of_clips(tmp_path, 1)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "PREP_PLATFORM_DATA_ROOT": str(tmp_path / "data")}
    env.pop("HF_HUB_OFFLINE", None)
    if network == "HF_HUB_OFFLINE":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
    if tool == "encode_prompts":
        command = CLI + ["prep_platform.data_prep.encode_prompts", "--metadata", str(metadata), "--output-dir",
                         str(tmp_path / "prompts"), "--text-encoder-preset", "default", "--scenario", "urban"]
    else:
        command = CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
                         str(tmp_path / "latents"), "--size", "144x96", "--frames", "9", "--workers", "0",
                         "--scenario", "urban", "--encode-latents", "--vae-preset", "default"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr[-3000:]
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(errors) == 1, errors
    line = errors[0]
    assert "THUDM/CogVideoX-5b-I2V" in line and str(tmp_path / "hf") in line and "preset tiny" in line
    assert ("HF_HUB_OFFLINE is set" in line) if network == "HF_HUB_OFFLINE" else ("cannot be reached" in line)
