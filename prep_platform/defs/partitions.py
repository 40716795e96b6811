"""One static partition per scenario, read from the scenarios YAML (never one partition per clip)."""

import os
import warnings
from collections.abc import Callable

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
    updated by the automation sensor once its inputs did and their blocking checks passed; a backfill of several
    scenarios is one run (the body goes over `context.partition_keys`: `per_scenario`)."""
    from prep_platform.defs.automation.conditions import downstream_automation

    # backfill_policy is a beta parameter in dagster 1.13 and says so at every import: silenced here, where the
    # project uses it on purpose (single-run backfills are tested), and nowhere else.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        return dg.asset(partitions_def=scenario_partitions, owners=OWNERS, automation_condition=downstream_automation(),
                        backfill_policy=dg.BackfillPolicy.single_run(), **kwargs)


def gpu_scenario_asset(**kwargs):
    """A per-scenario asset whose step holds the GPU: the `gpu` pool (one at a time), the gpu Celery queue and the
    Kubernetes GPU request (defs/tags.py)."""
    from prep_platform.defs.tags import GPU_STEP_TAGS

    return scenario_asset(pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "python"}, **kwargs)


# --- one run, several scenarios ---------------------------------------------------------------------------------
# Every per-scenario asset has BackfillPolicy.single_run(): a backfill (and the nightly schedule) of several
# scenarios is one run, in which the VAE and the text encoder load (and compile) once. So each asset and check
# works over `context.partition_keys`: one scenario from a single-partition materialisation, several in a backfill.


def per_scenario(context, materialise: Callable[[str], dict]) -> dg.MaterializeResult:
    """`materialise(scenario)` -> that scenario's metadata, for each scenario of the run, in order. One scenario:
    its metadata as it is; several: the counts summed, every scenario's numbers in `per_scenario`."""
    metadata = {scenario: materialise(scenario) for scenario in context.partition_keys}
    return dg.MaterializeResult(metadata=merged_scenario_metadata(metadata))


def merged_scenario_metadata(per: dict[str, dict]) -> dict:
    if len(per) == 1:
        return next(iter(per.values()))
    numbers = {scenario: {k: v for k, v in values.items() if isinstance(v, int | float | bool)}
               for scenario, values in per.items()}
    counts = set.intersection(*({k for k, v in n.items() if type(v) is int} for n in numbers.values()))
    merged: dict = {key: sum(n[key] for n in numbers.values()) for key in sorted(counts)}
    merged.update(scenarios=", ".join(per), per_scenario=dg.MetadataValue.json(numbers))
    return merged


def per_scenario_check(context, check: Callable[[str], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """`check(scenario)` for each scenario of the run; several: passed only when all passed, ERROR when a failed
    one was ERROR, each scenario's verdict and metadata kept."""
    results = {scenario: check(scenario) for scenario in context.partition_keys}
    if len(results) == 1:
        return next(iter(results.values()))
    failed = [scenario for scenario, result in results.items() if not result.passed]
    error = any(results[s].severity == dg.AssetCheckSeverity.ERROR for s in failed)
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if error or not failed else dg.AssetCheckSeverity.WARN,
        metadata={
            "scenarios": ", ".join(results),
            "failed_scenarios": ", ".join(failed) or "none",
            "per_scenario": dg.MetadataValue.json({
                scenario: {"passed": result.passed, **{k: _plain(v) for k, v in (result.metadata or {}).items()}}
                for scenario, result in results.items()
            }),
        },
    )


def _plain(value):
    """A check's metadata value as JSON."""
    value = getattr(value, "value", value)
    return value if isinstance(value, int | float | str | bool | None | list | dict) else str(value)
