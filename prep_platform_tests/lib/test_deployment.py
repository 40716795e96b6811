"""The deployment settings: one object the definitions read, from PREP_PLATFORM_* variables, each refused in one
line naming the variable when it cannot be used."""

from __future__ import annotations

import pytest

from prep_platform.lib.deployment import DeploymentSettingError, DeploymentSettings


def test_defaults_and_variables():
    assert DeploymentSettings.from_env({}) == DeploymentSettings()
    settings = DeploymentSettings.from_env({"PREP_PLATFORM_DEPLOYMENT": "kubernetes", "PREP_PLATFORM_K8S_GPUS": "4",
                                            "PREP_PLATFORM_SHARDS_PER_RUN": "2", "PREP_PLATFORM_UNRELATED": "x"})
    assert (settings.profile, settings.k8s_gpus, settings.shards_per_run) == ("kubernetes", 4, 2)


def test_the_older_variable_still_names_a_deployment_and_leaves_the_model_profile_alone():
    """PREP_PLATFORM_PROFILE named the deployment before it named the model profile: a deployment's name there is
    still the deployment (and not a model profile to refuse); a model profile's name is not the deployment's."""
    from prep_platform.lib.settings import PrepSettings

    environ = {"PREP_PLATFORM_PROFILE": "distributed"}
    assert DeploymentSettings.from_env(environ).profile == "distributed"
    assert PrepSettings.from_env(environ=environ).profile == "cogvideox"
    environ = {"PREP_PLATFORM_PROFILE": "cogvideox1.5", "PREP_PLATFORM_DEPLOYMENT": "kubernetes"}
    assert DeploymentSettings.from_env(environ).profile == "kubernetes"
    assert PrepSettings.from_env(environ=environ).profile == "cogvideox1.5"
    assert DeploymentSettings.from_env({"PREP_PLATFORM_PROFILE": "cogvideox1.5"}).profile == "local"


@pytest.mark.parametrize("variable, value, says", [
    ("PREP_PLATFORM_DEPLOYMENT", "kubernets", "choose one of local, distributed, kubernetes"),
    ("PREP_PLATFORM_SHARDS_PER_RUN", "0", "greater than or equal to 1"),
    ("PREP_PLATFORM_K8S_GPUS", "four", "valid integer"),
])
def test_a_bad_value_is_one_line_naming_the_variable(variable, value, says):
    with pytest.raises(DeploymentSettingError) as error:
        DeploymentSettings.from_env({variable: value})
    message = str(error.value)
    assert message.startswith(f"{variable}={value!r}: ") and says in message and "\n" not in message


def test_the_executors_take_the_deployment_settings(monkeypatch):
    from prep_platform.defs.automation import jobs

    monkeypatch.setenv("PREP_PLATFORM_CELERY_BROKER", "redis://broker.internal:6379/0")
    monkeypatch.setenv("PREP_PLATFORM_CELERY_VISIBILITY_TIMEOUT", "120")
    config = jobs.celery_step_executor().apply_config_mapping({}).value["config"]
    assert config["broker"] == "redis://broker.internal:6379/0"
    assert config["config_source"]["broker_transport_options"]["visibility_timeout"] == 120
