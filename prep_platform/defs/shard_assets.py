"""Assets and checks over shards of work: the decorators every per-shard stage uses (partitions, owners, automation,
multi-run backfills, the GPU pool), and the per-shard loop their bodies run, with its metadata merged for runs of
several shards. The partitions themselves are in defs/partitions.py."""

import warnings
from collections.abc import Callable

import dagster as dg

from prep_platform.defs.partitions import OWNERS, SHARDS_PER_RUN, shard_partitions
from prep_platform.lib.files.row_table import ParquetFileError
from prep_platform.lib.shards import parse_shard_key, shard_key


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


def shard_asset_check(**kwargs):
    """A check per shard partition. The decorated function checks one shard, `(settings, scenario, shard)`; the
    check it becomes runs it for each shard of the run (per_shard_check), with the settings resource."""
    from prep_platform.defs.resources import PrepPlatformSettings

    def decorate(check_one: Callable[..., dg.AssetCheckResult]):
        def check_shard(settings: PrepPlatformSettings, scenario: str, shard: int) -> dg.AssetCheckResult:
            try:
                return check_one(settings, scenario, shard)
            except ParquetFileError as exc:  # a damaged manifest or index: the check fails naming it, never errors
                return dg.AssetCheckResult(passed=False, metadata={"problem": str(exc)})

        def check(context: dg.AssetCheckExecutionContext, settings: PrepPlatformSettings) -> dg.AssetCheckResult:
            return per_shard_check(context, lambda scenario, shard: check_shard(settings, scenario, shard))

        check.__name__, check.__doc__ = check_one.__name__, check_one.__doc__
        return partitioned_asset_check(shard_partitions, **kwargs)(check)

    return decorate


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
