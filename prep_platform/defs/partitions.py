"""Partitions of the per-scenario work: one dynamic partition per shard of a scenario (`urban.0003`, at most
`shard_size` clips each; lib.shards), added by scenario_metadata when its shards appear.

Why dynamic, one dimension: the number of shards follows the data (a scenario of 480k Panda-70M clips has ~960, one
of 2k has 4), so a scenario x shard-number grid (MultiPartitionsDefinition) would be mostly empty partitions; the
scenario stays readable as the key's prefix, and a backfill can select a scenario's shards by it. Never one
partition per clip (Dagster's guidance: keep partition counts well under 100k)."""

import os
import warnings
from collections.abc import Callable

import dagster as dg

from prep_platform.lib.scenarios import ScenarioConfig, ScenarioConfigError, load_scenarios
from prep_platform.lib.shards import parse_shard_key, shard_key

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


# Read once, when the code location loads: scenario_metadata's code version comes from it.
SCENARIOS = load_scenarios_setting()
shard_partitions = dg.DynamicPartitionsDefinition(name="scenario_shards")

SHARDS_PER_RUN_ENV = "PREP_PLATFORM_SHARDS_PER_RUN"


def shards_per_run() -> int:
    """Shards a backfill run takes (BackfillPolicy.multi_run): each run loads the VAE (and compiles it) once for
    them, and N runs go to N GPU workers at once. 4 x 500 clips is ~30 minutes of one H200 per run."""
    text = os.environ.get(SHARDS_PER_RUN_ENV, "4")
    if not text.isdigit() or int(text) < 1:
        raise ScenariosSettingError(f"{SHARDS_PER_RUN_ENV}={text!r}: give a whole number of shards, at least 1")
    return int(text)


SHARDS_PER_RUN = shards_per_run()


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


def shard_asset_check(**kwargs):
    """A check per shard partition."""
    return partitioned_asset_check(shard_partitions, **kwargs)


def shard_asset(**kwargs):
    """`dg.asset` for a stage of the per-shard pipeline: one partition per shard of a scenario, owned by the data-prep
    team, updated by the automation sensor once its inputs did and their blocking checks passed; a backfill runs
    SHARDS_PER_RUN shards per run (the body goes over `context.partition_keys`: `per_shard`)."""
    from prep_platform.defs.automation.conditions import downstream_automation

    # backfill_policy is a beta parameter in dagster 1.13 and says so at every import: silenced here, where the
    # project uses it on purpose (multi-run backfills are tested), and nowhere else.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        return dg.asset(partitions_def=shard_partitions, owners=OWNERS, automation_condition=downstream_automation(),
                        backfill_policy=dg.BackfillPolicy.multi_run(SHARDS_PER_RUN), **kwargs)


def gpu_shard_asset(**kwargs):
    """A per-shard asset whose step holds a GPU: the `gpu` pool (its limit: the number of GPUs), the gpu Celery
    queue and the Kubernetes GPU request (defs/tags.py)."""
    from prep_platform.defs.tags import GPU_STEP_TAGS

    return shard_asset(pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "python"}, **kwargs)


# --- one run, several shards ------------------------------------------------------------------------------------
# A backfill (and the nightly schedule) over many shards is several runs of SHARDS_PER_RUN shards each: the runs go
# to as many GPU workers as there are, and in each the VAE and the text encoder load (and compile) once. So each
# asset and check works over `context.partition_keys`: one shard from a single-partition materialisation, several
# in a backfill run.


def run_shards(context) -> list[tuple[str, int]]:
    return [parse_shard_key(key) for key in context.partition_keys]


def per_shard(context, materialise: Callable[[str, int], dict]) -> dg.MaterializeResult:
    """`materialise(scenario, shard)` -> that shard's metadata, for each shard of the run, in order. One shard: its
    metadata as it is; several: the counts summed, every shard's numbers in `per_shard`."""
    metadata = {shard_key(scenario, shard): materialise(scenario, shard) for scenario, shard in run_shards(context)}
    return dg.MaterializeResult(metadata=merged_shard_metadata(metadata))


def merged_shard_metadata(per: dict[str, dict]) -> dict:
    if len(per) == 1:
        return next(iter(per.values()))
    numbers = {key: {k: v for k, v in values.items() if isinstance(v, int | float | bool)} for key, values in per.items()}
    counts = set.intersection(*({k for k, v in n.items() if type(v) is int} for n in numbers.values()))
    merged: dict = {key: sum(n[key] for n in numbers.values()) for key in sorted(counts)}
    merged.update(shards=", ".join(per), per_shard=dg.MetadataValue.json(numbers))
    return merged


def per_shard_check(context, check: Callable[[str, int], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """`check(scenario, shard)` for each shard of the run; several: passed only when all passed, ERROR when a failed
    one was ERROR, each shard's verdict and metadata kept."""
    results = {shard_key(scenario, shard): check(scenario, shard) for scenario, shard in run_shards(context)}
    if len(results) == 1:
        return next(iter(results.values()))
    failed = [key for key, result in results.items() if not result.passed]
    error = any(results[key].severity == dg.AssetCheckSeverity.ERROR for key in failed)
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if error or not failed else dg.AssetCheckSeverity.WARN,
        metadata={
            "shards": ", ".join(results),
            "failed_shards": ", ".join(failed) or "none",
            "per_shard": dg.MetadataValue.json({
                key: {"passed": result.passed, **{k: _plain(v) for k, v in (result.metadata or {}).items()}}
                for key, result in results.items()
            }),
        },
    )


def _plain(value):
    """A check's metadata value as JSON."""
    value = getattr(value, "value", value)
    return value if isinstance(value, int | float | str | bool | None | list | dict) else str(value)
