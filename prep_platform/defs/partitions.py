"""One static partition per scenario, read from the scenarios YAML (never one partition per clip)."""

import os
import warnings

import dagster as dg

from prep_platform.lib.scenarios import ScenarioConfig, ScenarioConfigError, load_scenarios

OWNERS = ["team:data-prep"]
SCENARIOS_ENV = "PREP_PLATFORM_SCENARIOS"  # the same file the settings' scenarios_file names for the CLI


class ScenariosSettingError(ScenarioConfigError):
    """The scenarios YAML named by PREP_PLATFORM_SCENARIOS cannot be used; one line says which and why."""


def load_scenarios_setting() -> ScenarioConfig:
    path = os.environ.get(SCENARIOS_ENV) or None
    try:
        return load_scenarios(path)
    except ScenarioConfigError as exc:
        # `from None`: the message is complete, a chained traceback would only bury it.
        raise ScenariosSettingError(f"{SCENARIOS_ENV}={path}: {exc}" if path else str(exc)) from None


# Read once, when the code location loads: the partitions and scenario_metadata's code version both come from it.
SCENARIOS = load_scenarios_setting()
scenario_partitions = dg.StaticPartitionsDefinition(list(SCENARIOS.scenarios))


def partitioned_asset_check(partitions_def: dg.PartitionsDefinition, **kwargs):
    """`dg.asset_check` for a partitioned check. Partitioned checks are a preview feature in dagster 1.13 and
    say so at every import; the warning is silenced here, where the project uses the feature on purpose, and
    nowhere else."""
    def decorate(fn):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
                                    category=dg.PreviewWarning)
            return dg.asset_check(partitions_def=partitions_def, **kwargs)(fn)

    return decorate


def scenario_asset_check(**kwargs):
    """A check per scenario partition."""
    return partitioned_asset_check(scenario_partitions, **kwargs)


def scenario_asset(**kwargs):
    """`dg.asset` for a stage of the per-scenario pipeline: one partition per scenario, owned by the data-prep team,
    updated by the automation sensor once its inputs did and their blocking checks passed."""
    from prep_platform.defs.automation.conditions import downstream_automation

    return dg.asset(partitions_def=scenario_partitions, owners=OWNERS, automation_condition=downstream_automation(),
                    **kwargs)


def gpu_scenario_asset(**kwargs):
    """A per-scenario asset whose step holds the GPU: the `gpu` pool (one at a time), the gpu Celery queue and the
    Kubernetes GPU request (defs/tags.py)."""
    from prep_platform.defs.tags import GPU_STEP_TAGS

    return scenario_asset(pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "python"}, **kwargs)
