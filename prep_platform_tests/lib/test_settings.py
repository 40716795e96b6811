"""One set of settings: defaults and meanings written once, read by both shells; environment variables; the
demo's rule; and the shared status counts."""

from __future__ import annotations

import pydantic
import pytest

from prep_platform.lib.models.model_settings import VaeSettings
from prep_platform.lib.settings import DEMO_FRAME_SIZE, NESTED_SETTINGS, PrepSettings, SettingsError
from prep_platform.lib.statuses import environment_failures, failed_share, failure_count


def test_every_setting_has_a_default_and_a_meaning():
    for model in (PrepSettings, *NESTED_SETTINGS.values()):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"
            assert not info.is_required(), f"{model.__name__}.{name}"


def test_the_model_settings_are_nested_settings_read_from_their_own_variables():
    env = {"PREP_PLATFORM_VAE_BATCH_SIZE": "4", "PREP_PLATFORM_VAE_COMPILE": "false",
           "PREP_PLATFORM_TEXT_ENCODER_MAX_LENGTH": "64", "PREP_PLATFORM_FRAMES": "17"}
    settings = PrepSettings.from_env(environ=env)
    assert (settings.vae.batch_size, settings.vae.compile, settings.vae.tiling) == (4, False, False)
    assert (settings.text_encoder.max_length, settings.text_encoder.batch_size, settings.frames) == (64, 8, 17)
    # one field changed keeps the model's others; a bad value is refused where it is set
    changed = settings.with_values(vae={"tiling": True})
    assert (changed.vae.tiling, changed.vae.batch_size) == (True, 4)
    with pytest.raises(SettingsError, match=r"^PREP_PLATFORM_VAE_PRESET='huge': unknown VAE preset 'huge'; choose one of"):
        PrepSettings.from_env(environ={"PREP_PLATFORM_VAE_PRESET": "huge"})
    with pytest.raises(pydantic.ValidationError):
        settings.with_values(text_encoder={"batch_size": 0})
    assert VaeSettings(preset="low_memory").resolved().batch_size == 1 and VaeSettings().resolved().preset == "default"


def test_environment_variables_set_settings_and_the_sample_brings_the_demo_frame():
    env = {"PREP_PLATFORM_FRAMES": "17", "PREP_PLATFORM_VATEX_REPO": "org/vatex", "PREP_PLATFORM_SCENARIOS": "s.yaml"}
    settings = PrepSettings.from_env(environ=env)
    assert (settings.frames, settings.vatex_repo_id, settings.scenarios_file) == (17, "org/vatex", "s.yaml")
    # unset, the size is the profile's (cogvideox: 720x480)
    assert settings.msr_vtt_source == "hub" and settings.frame_size is None
    assert (settings.frame_config().width, settings.frame_config().height) == (720, 480)
    demo = PrepSettings.from_env(environ={}, default_source="sample")
    assert demo.frame_size == DEMO_FRAME_SIZE and demo.vae_preset() == "tiny"
    assert demo.places_panda_sample() and not settings.places_panda_sample()
    assert PrepSettings.from_env(environ={"PREP_PLATFORM_FRAME_SIZE": "320x240"}, default_source="sample").frame_size == "320x240"
    assert PrepSettings.from_env(environ={"PREP_PLATFORM_VAE_PRESET": "low_memory"},
                                 default_source="sample").vae_preset() == "low_memory"


def test_the_free_space_reserve_is_small_on_the_demo_and_60_gb_on_real_data():
    # the demo writes a few MB: with the 60 GB reserve a laptop (or a CI runner) with less free saw a WARN
    assert PrepSettings.from_env(environ={}, default_source="sample").free_space_reserve() == 1.0
    assert PrepSettings.from_env(environ={}).free_space_reserve() == 60.0
    assert PrepSettings.from_env(environ={"PREP_PLATFORM_FREE_SPACE_RESERVE_GB": "5"},
                                 default_source="sample").free_space_reserve() == 5.0


def test_bad_values_are_refused_where_they_are_set():
    with pytest.raises(pydantic.ValidationError):
        PrepSettings(validation_ratio=1.0)
    # From the environment: one line naming the variable and the problem (a tool prints it and exits 2).
    with pytest.raises(SettingsError, match=r"^PREP_PLATFORM_WORKERS='-1': Input should be greater than or equal to 0$"):
        PrepSettings.from_env(environ={"PREP_PLATFORM_WORKERS": "-1"})
    with pytest.raises(SettingsError, match=r"^setting frames='x': "):
        PrepSettings.from_env(environ={}, frames="x")
    with pytest.raises(ValueError, match="cogvideox needs 8n\\+1 frames: 10 is not; 9 or 17"):
        PrepSettings(frames=10).frame_config()
    assert PrepSettings(splits="train").split_names() == ("train",)
    assert PrepSettings().split_names() == ("train", "validation")


def test_the_failed_share_rule_is_one_rule():
    assert failed_share({}) == 0.0  # nothing to do is nothing failed
    assert failed_share({"ok": 3, "truncated": 1}) == 0.25
    assert failed_share({"encoded": 1, "skipped": 1, "moved": 1, "failed": 1}) == 0.25
    assert failure_count({"ok": 2, "too_short": 1, "unsafe_id": 2}) == 3
    rows = [{"status": "failed", "cause": "environment"}, {"status": "failed"}, {"status": "encoded", "cause": "environment"}]
    assert environment_failures(rows) == [rows[0]]


def test_the_model_presets_follow_the_data_root_a_tool_runs_on(tmp_path):
    """A data root whose MSR-VTT was made from the embedded sample runs the tiny models whatever this run's source
    setting; real data the pretrained ones; the environment variables win over both."""
    import json

    demo = PrepSettings(data_root=str(tmp_path / "demo"), msr_vtt_source="hub")
    real = PrepSettings(data_root=str(tmp_path / "real"), msr_vtt_source="hub")
    for settings, source in ((demo, "sample"), (real, "hub")):
        report = settings.layout().msr_vtt.report
        report.parent.mkdir(parents=True)
        report.write_text(json.dumps({"provenance": {"source": source}}))
    assert (demo.vae_preset(), demo.text_encoder_preset()) == ("tiny", "tiny")
    assert (real.vae_preset(), real.text_encoder_preset()) == ("default", "default")
    assert PrepSettings(data_root=str(tmp_path / "none"), msr_vtt_source="sample").vae_preset() == "tiny"
    from_env = PrepSettings.from_env(environ={"PREP_PLATFORM_VAE_PRESET": "low_memory", "PREP_PLATFORM_DATA_ROOT": demo.data_root,
                                              "PREP_PLATFORM_TEXT_ENCODER_PRESET": "default"})
    assert (from_env.vae_preset(), from_env.text_encoder_preset()) == ("low_memory", "default")
    assert demo.vae_settings().preset == "tiny" and demo.text_encoder_settings().preset == "tiny"
