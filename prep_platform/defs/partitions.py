"""Partitions of the per-scenario work: one dynamic partition per shard of a scenario (`urban.0003`, at most
`shard_size` clips each; lib.shards), added by scenario_metadata when its shards appear.

Why dynamic, one dimension: the number of shards follows the data (a scenario of 480k Panda-70M clips has ~960, one
of 2k has 4), so a scenario x shard-number grid (MultiPartitionsDefinition) would be mostly empty partitions; the
scenario stays readable as the key's prefix, and a backfill can select a scenario's shards by it. Never one
partition per clip (Dagster's guidance: keep partition counts well under 100k)."""

import os

import dagster as dg

from prep_platform.lib.deployment import DeploymentSettings
from prep_platform.lib.scenarios import ScenarioConfig, ScenarioConfigError, load_scenarios
from prep_platform.lib.settings import ENV_ALIASES, env_values, env_variable

OWNERS = ["team:data-prep"]
SCENARIOS_ENV = env_variable("scenarios_file", ENV_ALIASES)  # the settings' scenarios_file, as the CLI reads it


class ScenariosSettingError(ScenarioConfigError):
    """The scenarios YAML named by PREP_PLATFORM_SCENARIOS cannot be used; one line says which and why."""


def load_scenarios_setting() -> ScenarioConfig:
    # Only this setting: the partitions are defined when the code location loads, before any resource exists.
    path = env_values(["scenarios_file"], os.environ, ENV_ALIASES).get("scenarios_file")
    try:
        return load_scenarios(path)
    except ScenarioConfigError as exc:
        # `from None`: the message is complete, a chained traceback would only bury it.
        raise ScenariosSettingError(f"{SCENARIOS_ENV}={path}: {exc}" if path else str(exc)) from None


# Read once, when the code location loads: scenario_metadata's code version comes from it.
SCENARIOS = load_scenarios_setting()
shard_partitions = dg.DynamicPartitionsDefinition(name="scenario_shards")

# Shards a backfill run takes (BackfillPolicy.multi_run): each run loads the VAE (and compiles it) once for them, and
# N runs go to N GPU workers at once. 4 x 500 clips is ~30 minutes of one H200 per run. (lib.deployment)
SHARDS_PER_RUN = DeploymentSettings.from_env().shards_per_run


def add_new_partitions(instance: dg.DagsterInstance, partitions_def: dg.DynamicPartitionsDefinition,
                       keys: list[str]) -> list[str]:
    """Add the keys the instance does not know yet to a dynamic partitioning (a partition is never removed: an
    emptied shard keeps its history and gets empty manifests). Returns the keys added."""
    known = set(instance.get_dynamic_partitions(partitions_def.name))
    new = [key for key in keys if key not in known]
    if new:
        instance.add_dynamic_partitions(partitions_def.name, new)
    return new


def register_shards(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """The shards of work scenario_metadata found, as partitions."""
    return add_new_partitions(instance, shard_partitions, keys)


def shard_run_ranges(keys: list[str], per_run: int | None = None) -> list[tuple[str, str]]:
    """The (first, last) partition ranges of a multi-run backfill over `keys` (in the instance's order): runs of
    `per_run` consecutive shards, as BackfillPolicy.multi_run launches them."""
    per_run = per_run or SHARDS_PER_RUN
    return [(keys[i], keys[min(i + per_run, len(keys)) - 1]) for i in range(0, len(keys), per_run)]


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the partitions first..last (what one run of a backfill launches)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
