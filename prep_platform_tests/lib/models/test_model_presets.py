"""A model option that cannot be served is refused up front, never silently replaced: a model named on a data root
made from the sample is that model (not the tiny one), a model named beside a preset that loads none is refused,
and the shells that download before they encode take the preset from their source."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from prep_platform.lib.models.model_settings import TextEncoderSettings, VaeSettings
from prep_platform.lib.settings import PrepSettings, SettingsError
from prep_platform_tests.support.cli_runs import CLI, metadata_file_of_clips


def sample_made_root(root: Path) -> Path:
    """A data root whose MSR-VTT folder says it was made from the embedded sample (what the tools go by)."""
    report = root / "raw" / "msr-vtt" / "download_report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"provenance": {"source": "sample"}}))
    return root


def test_a_named_model_on_the_samples_data_root_is_that_model_not_the_tiny_one(tmp_path):
    root = sample_made_root(tmp_path / "data")
    plain = PrepSettings(data_root=str(root))
    assert (plain.vae_preset(), plain.text_encoder_preset()) == ("tiny", "tiny")  # the demo's data, nothing named
    named = PrepSettings(data_root=str(root), vae={"model_id": "does-not/exist-xyz"},
                         text_encoder={"model_id": "org/t5"})
    assert (named.vae_preset(), named.text_encoder_preset()) == ("default", "default")
    assert named.vae_settings().hub_model().model_id == "does-not/exist-xyz"


def test_the_source_decides_for_a_shell_that_downloads_before_it_encodes(tmp_path):
    root = sample_made_root(tmp_path / "data")
    hub = PrepSettings(data_root=str(root), msr_vtt_source="hub")
    assert hub.vae_preset() == "tiny"  # a tool reads the data root as it is
    assert (hub.vae_preset(by_source=True), hub.text_encoder_preset(by_source=True)) == ("default", "default")
    sample = PrepSettings(data_root=str(tmp_path / "fresh"), msr_vtt_source="sample")
    assert (sample.vae_preset(by_source=True), sample.text_encoder_preset(by_source=True)) == ("tiny", "tiny")


@pytest.mark.parametrize("model, preset", [(VaeSettings, "tiny"), (VaeSettings, "random_full"), (TextEncoderSettings, "tiny")])
def test_a_model_named_beside_a_preset_that_loads_none_is_refused(model, preset):
    with pytest.raises(ValueError, match=f"the {preset} preset builds its model from a config .* 'org/named' would be ignored"):
        model(preset=preset, model_id="org/named")
    model(preset=preset)  # the default id beside it names nothing


def test_the_variable_that_names_the_ignored_model_is_named():
    with pytest.raises(SettingsError, match=r"^PREP_PLATFORM_VAE_MODEL_ID='org/named': the tiny preset"):
        PrepSettings.from_env(environ={"PREP_PLATFORM_VAE_PRESET": "tiny", "PREP_PLATFORM_VAE_MODEL_ID": "org/named"})


def _tool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    for name in ("PREP_PLATFORM_VAE_PRESET", "PREP_PLATFORM_TEXT_ENCODER_PRESET", "PREP_PLATFORM_VAE_MODEL_ID",
                 "PREP_PLATFORM_TEXT_ENCODER_MODEL_ID", "PREP_PLATFORM_DATA_ROOT"):
        env.pop(name, None)
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=300, env=env)


def test_a_mistyped_vae_on_the_samples_data_root_is_refused_up_front_not_replaced_by_the_tiny_one(tmp_path):
    """`--vae does-not/exist-xyz` on a sample data root encoded with the tiny VAE, exit 0, no warning."""
    root = sample_made_root(tmp_path / "data")
    metadata = metadata_file_of_clips(tmp_path, 1)
    done = _tool(tmp_path, "prep_platform.data_prep.preprocess_video_latents", "--data-root", str(root),
                 "--metadata", str(metadata), "--size", "144x96", "--frames", "9", "--workers", "0", "--scenario",
                 "urban", "--encode-latents", "--vae", "does-not/exist-xyz")
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert done.returncode == 3 and len(lines) == 1, lines
    assert lines[0].startswith("preprocess_video_latents: error: the VAE does-not/exist-xyz ") and "HF_HUB_OFFLINE" in lines[0]
    assert not (root / "prepared").exists()  # refused before the frame stage


def test_a_mistyped_text_encoder_on_the_samples_data_root_is_refused_up_front(tmp_path):
    root = sample_made_root(tmp_path / "data")
    metadata = metadata_file_of_clips(tmp_path, 1)
    done = _tool(tmp_path, "prep_platform.data_prep.encode_prompts", "--data-root", str(root), "--metadata",
                 str(metadata), "--text-encoder", "org/no-such-t5")
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert done.returncode == 3 and len(lines) == 1, lines
    assert lines[0].startswith("encode_prompts: error: the text encoder org/no-such-t5 ")


def test_a_named_vae_beside_the_tiny_preset_is_one_line_exit_2(tmp_path):
    root = sample_made_root(tmp_path / "data")
    done = _tool(tmp_path, "prep_platform.data_prep.preprocess_video_latents", "--data-root", str(root),
                 "--encode-latents", "--vae", "does-not/exist-xyz", "--vae-preset", "tiny")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "preprocess_video_latents: error: --vae: the tiny preset builds its model from a config with random weights "
        "and loads none, so the model 'does-not/exist-xyz' would be ignored: drop one of the two (got "
        "'does-not/exist-xyz')"]
