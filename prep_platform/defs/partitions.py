"""One static partition per scenario, read from the scenarios YAML (never one partition per clip)."""

import os
import warnings

import dagster as dg

from prep_platform.lib.scenarios import ScenarioConfigError, load_scenarios

SCENARIOS_ENV = "PREP_PLATFORM_SCENARIOS"


class ScenariosSettingError(ScenarioConfigError):
    """The scenarios YAML named by PREP_PLATFORM_SCENARIOS cannot be used; one line says which and why."""


def scenario_names() -> list[str]:
    path = os.environ.get(SCENARIOS_ENV) or None
    try:
        return list(load_scenarios(path).scenarios)
    except ScenarioConfigError as exc:
        # `from None`: the message is complete, a chained traceback would only bury it.
        raise ScenariosSettingError(f"{SCENARIOS_ENV}={path}: {exc}" if path else str(exc)) from None


scenario_partitions = dg.StaticPartitionsDefinition(scenario_names())


def scenario_asset_check(**kwargs):
    """`dg.asset_check` for a per-scenario check. Partitioned checks are a preview feature in dagster 1.13 and
    say so at every import; the warning is silenced here, where the project uses the feature on purpose, and
    nowhere else."""
    def decorate(fn):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
                                    category=dg.PreviewWarning)
            return dg.asset_check(partitions_def=scenario_partitions, **kwargs)(fn)

    return decorate
