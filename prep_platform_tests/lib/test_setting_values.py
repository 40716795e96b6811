"""Every PREP_PLATFORM_* variable is validated where the settings are built: a table of bad values for every field
of the run, model and deployment settings (a new field without a row fails here) is refused in one line naming the
variable, the value and the rule; and real processes (the main job, a tool) exit 2 with that line, before anything
runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from prep_platform.lib.deployment import DEPLOYMENT_ALIASES, DeploymentSettingError, DeploymentSettings
from prep_platform.lib.settings import ENV_ALIASES, NESTED_SETTINGS, VATEX_SPLITS, PrepSettings, SettingsError, env_variable

BOOL = ["maybe"]
SHARE = ["nan", "inf", "-0.1", "1.5"]
GB = ["nan", "inf", "-1", "0"]
# field -> values it refuses. Nested model fields are `<model>_<field>`, as their variables are named.
BAD_VALUES: dict[str, list[str]] = {
    "data_root": ["data\nroot"],
    "profile": ["cogvidex", "wan9", "kubernets"],
    "msr_vtt_source": ["sample\n"],
    "msr_vtt_repo_id": ["org/my repo"],
    "msr_vtt_revision": ["main branch"],
    "msr_vtt_annotation_file": ["/etc/passwd", "../MSRVTT_data.json"],
    "msr_vtt_videos_archive": ["../videos.zip"],
    "msr_vtt_limit": ["-1", "nan", "1.5"],
    "min_clip_duration_s": ["nan", "inf", "-1"],
    "hub_endpoint": ["localhost:8080", "http://host\n"],
    "vatex_source": ["hub\r"],
    "vatex_repo_id": ["org/vatex files"],
    "vatex_revision": ["v 1"],
    "vatex_annotation_file": ["/abs.json"],
    "vatex_video_repo_id": ["a b"],
    "vatex_video_revision": ["v\t1"],
    "vatex_split": ["test", "train"],
    "vatex_limit": ["-1"],
    "vatex_download_videos": BOOL,
    "vatex_video_prefix": ["../videos/"],
    "vatex_retry_failed": BOOL,
    "panda_sample": BOOL,
    "panda_subset_total": ["0", "-5"],
    "panda_min_matching_score": SHARE,
    "scenarios_file": ["s\x01.yaml"],
    "metadata_limit": ["-1"],
    "validation_ratio": ["nan", "1", "-0.1"],
    "split_seed": ["abc", "1.5"],
    "shard_size": ["0"],
    "frame_size": ["721x480", "720", "0x0", "-8x8"],
    "frames": ["10", "0", "nan"],
    "fps": ["0", "-8", "nan", "inf"],
    "pad_short": BOOL,
    "shot_detector": ["bogus"],
    "shot_threshold": ["nan", "-1"],
    "shot_adaptive_threshold": ["inf"],
    "shot_min_content": ["-1"],
    "min_shot_s": ["nan"],
    "window_policy": ["last"],
    "windows_per_clip": ["0", "257"],
    "unclean_window": ["maybe"],
    "splits": ["test"],
    "augment": BOOL,
    "workers": ["-1"],
    "prefetch": ["0"],
    "export_split": ["test"],
    "max_failed_share": SHARE,
    "max_no_clean_window_share": SHARE,
    "storage_budget_gb": GB,
    "free_space_reserve_gb": ["nan", "inf", "-1"],
    "budget_raw_gb": GB,
    "budget_metadata_gb": GB,
    "budget_frames_gb": GB,
    "budget_latents_gb": GB,
    "budget_eval_gb": GB,
    "vae_preset": ["huge"],
    "vae_model_id": ["org/model\n"],
    "vae_subfolder": ["vae\n"],
    "vae_revision": ["my branch"],
    "vae_device": ["cude", "gpu"],
    "vae_dtype": ["float64"],
    "vae_batch_size": ["-1"],
    "vae_tiling": BOOL,
    "vae_slicing": BOOL,
    "vae_compile": BOOL,
    "text_encoder_preset": ["huge"],
    "text_encoder_model_id": ["\x7f"],
    "text_encoder_revision": ["a b"],
    "text_encoder_device": ["cuda:x"],
    "text_encoder_dtype": ["int8"],
    "text_encoder_batch_size": ["0"],
    "text_encoder_max_length": ["0"],
}
DEPLOYMENT_BAD_VALUES: dict[str, list[str]] = {
    "profile": ["kubernets"],
    "shards_per_run": ["0"],
    "celery_broker": ["redis"],
    "celery_backend": ["not a url"],
    "celery_visibility_timeout": ["0"],
    "k8s_namespace": ["Prep_Platform", "-x"],
    "k8s_max_concurrent": ["0"],
    "k8s_gpus": ["-1"],
}


def run_setting_names() -> set[str]:
    names = {name for name in PrepSettings.model_fields if name not in NESTED_SETTINGS}
    return names | {f"{owner}_{field}" for owner, model in NESTED_SETTINGS.items() for field in model.model_fields}


def test_every_setting_has_bad_values_in_the_table():
    assert set(BAD_VALUES) == run_setting_names()
    assert set(DEPLOYMENT_BAD_VALUES) == set(DeploymentSettings.model_fields)


@pytest.mark.parametrize("name, value", [(name, value) for name, values in BAD_VALUES.items() for value in values])
def test_a_bad_run_setting_is_one_line_naming_the_variable(name, value):
    variable = env_variable(name, ENV_ALIASES)
    with pytest.raises(SettingsError) as refused:
        PrepSettings.from_env(environ={variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable}={value!r}: ") and "\n" not in message
    assert len(message) > len(f"{variable}={value!r}: ") + 10  # and the rule it breaks


@pytest.mark.parametrize("name, value", [(n, v) for n, values in DEPLOYMENT_BAD_VALUES.items() for v in values])
def test_a_bad_deployment_setting_is_one_line_naming_the_variable(name, value):
    variable = env_variable(name, DEPLOYMENT_ALIASES)
    with pytest.raises(DeploymentSettingError) as refused:
        DeploymentSettings.from_env({variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable}={value!r}: ") and "\n" not in message


def test_the_known_failures_say_the_rule():
    def refused(**env):
        with pytest.raises(SettingsError) as error:
            PrepSettings.from_env(environ=env)
        return str(error.value)

    assert refused(PREP_PLATFORM_PANDA_MIN_MATCHING_SCORE="nan") == \
        "PREP_PLATFORM_PANDA_MIN_MATCHING_SCORE='nan': Input should be a finite number"
    assert refused(PREP_PLATFORM_STORAGE_BUDGET_GB="-1") == "PREP_PLATFORM_STORAGE_BUDGET_GB='-1': Input should be greater than 0"
    assert refused(PREP_PLATFORM_SHOT_DETECTOR="bogus") == \
        "PREP_PLATFORM_SHOT_DETECTOR='bogus': choose one of combined, adaptive, content, none"
    assert refused(PREP_PLATFORM_FRAMES="10") == "PREP_PLATFORM_FRAMES='10': cogvideox needs 8n+1 frames: 10 is not; 9 or 17"
    assert PrepSettings.from_env(environ={"PREP_PLATFORM_PROFILE": "cogvideox1.5", "PREP_PLATFORM_FRAMES": "49"}
                                 ).frame_config().frames == 49  # 16 * 3 + 1
    assert refused(PREP_PLATFORM_PROFILE="cogvideox1.5", PREP_PLATFORM_FRAMES="57") == \
        "PREP_PLATFORM_FRAMES='57': cogvideox1.5 needs 16n+1 frames: 57 is not; 49 or 65"
    assert refused(PREP_PLATFORM_FRAME_SIZE="721x480") == "PREP_PLATFORM_FRAME_SIZE='721x480': cogvideox needs a " \
        "width and height in multiples of 16: 721x480 is not; 720x480 or 736x480"
    assert refused(PREP_PLATFORM_PROFILE="cogvidex").startswith("PREP_PLATFORM_PROFILE='cogvidex': unknown model "
                                                                 "profile 'cogvidex'; did you mean cogvideox?")
    assert refused(PREP_PLATFORM_METADATA_LIMIT="-1").endswith("greater than or equal to 0")
    assert refused(PREP_PLATFORM_VAE_BATCH_SIZE="-1").startswith("PREP_PLATFORM_VAE_BATCH_SIZE='-1': ")


def test_good_values_are_taken():
    settings = PrepSettings.from_env(environ={
        "PREP_PLATFORM_HUB_ENDPOINT": "http://127.0.0.1:8080", "PREP_PLATFORM_VAE_DEVICE": "cuda:1",
        "PREP_PLATFORM_VAE_DTYPE": "bf16", "PREP_PLATFORM_TEXT_ENCODER_MODEL_ID": "/models/my t5",
        "PREP_PLATFORM_VATEX_SPLIT": "public_test", "PREP_PLATFORM_PANDA_MIN_MATCHING_SCORE": "0",
        "PREP_PLATFORM_FRAMES": "17", "PREP_PLATFORM_FRAME_SIZE": "256x160", "PREP_PLATFORM_MSR_VTT_REVISION": "refs/pr/1",
        "PREP_PLATFORM_DATA_ROOT": "/data/my data", "PREP_PLATFORM_VAE_SUBFOLDER": "vae"})
    assert (settings.vae.device, settings.frames, settings.panda_min_matching_score) == ("cuda:1", 17, 0.0)
    assert PrepSettings.from_env(environ={}) == PrepSettings(msr_vtt_source="hub")


def test_the_vatex_splits_are_the_sources():
    from prep_platform.lib.sources.vatex import ANNOTATION_FILES

    assert set(VATEX_SPLITS) == set(ANNOTATION_FILES)


def test_a_source_folder_that_is_not_there_and_a_bad_label_model_are_refused(tmp_path):
    from prep_platform.lib.labelling.embedding import SentenceEncoder

    with pytest.raises(SettingsError, match=r"^PREP_PLATFORM_VATEX_SOURCE='/no/such': not 'hub', 'sample' or an existing folder$"):
        PrepSettings.from_env(environ={"PREP_PLATFORM_VATEX_SOURCE": "/no/such"}).check_local_sources()
    PrepSettings.from_env(environ={"PREP_PLATFORM_MSR_VTT_SOURCE": str(tmp_path)}).check_local_sources()
    with pytest.raises(SettingsError, match=r"^PREP_PLATFORM_LABEL_MODEL='\./no/such': neither an existing folder nor"):
        SentenceEncoder.from_env(tmp_path, environ={"PREP_PLATFORM_LABEL_MODEL": "./no/such"})
    assert SentenceEncoder.from_env(tmp_path, environ={"PREP_PLATFORM_LABEL_MODEL": "org/model@v1"}).model == "org/model@v1"


def run(module: str, *args: str, cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.mark.parametrize("variable, value, says", [
    ("PREP_PLATFORM_FRAMES", "10", "cogvideox needs 8n+1 frames: 10 is not; 9 or 17"),
    ("PREP_PLATFORM_PANDA_MIN_MATCHING_SCORE", "nan", "Input should be a finite number"),
    ("PREP_PLATFORM_SHARDS_PER_RUN", "0", "greater than or equal to 1"),
])
def test_the_main_job_refuses_a_bad_setting_before_its_first_run(tmp_path, variable, value, says):
    home, data = tmp_path / "home", tmp_path / "data"
    done = run("prep_platform.main_job", "--data-root", str(data), cwd=tmp_path, DAGSTER_HOME=str(home),
               **{variable: value})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"prep_platform.main_job: error: {variable}={value!r}: ")
    assert says in lines[0] and done.stdout == ""  # no run started
    assert not home.exists() and not data.exists()


def test_a_tool_refuses_a_bad_setting_in_one_line_exit_2(tmp_path):
    done = run("prep_platform.data_prep.download_panda70m", "--output-dir", str(tmp_path / "panda"), cwd=tmp_path,
               PREP_PLATFORM_STORAGE_BUDGET_GB="nan")
    assert done.returncode == 2
    assert done.stderr == "download_panda70m: error: PREP_PLATFORM_STORAGE_BUDGET_GB='nan': Input should be a finite number\n"
    assert not (tmp_path / "panda").exists()
