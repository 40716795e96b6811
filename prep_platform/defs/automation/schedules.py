"""Scheduled refresh and declarative automation. Everything starts STOPPED; turn it on in the UI (Automation)
or with `dagster schedule start <name>` / `dagster sensor start prep_automation_sensor`."""

import dagster as dg

from prep_platform.defs.automation.jobs import SOURCES, cpu_executor, latents_job, step_executor
from prep_platform.defs.partitions import partition_range_tags, shard_partitions, shard_run_ranges

raw_refresh_job = dg.define_asset_job(
    "raw_refresh_job",
    selection=SOURCES,
    executor_def=step_executor(cpu_executor),
    description="Re-check the raw downloads (MSR-VTT, VATEX, Panda-70M): unchanged files are not downloaded again.",
)

# Weekly: Sunday 03:00. The downloads skip what is current, so a tick costs a few HEAD requests when nothing changed.
raw_refresh_schedule = dg.ScheduleDefinition(
    name="raw_refresh_schedule",
    job=raw_refresh_job,
    cron_schedule="0 3 * * 0",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekly refresh of the raw downloads.",
)

@dg.schedule(
    job=latents_job,
    cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: every shard of every scenario, in runs of PREP_PLATFORM_SHARDS_PER_RUN shards (as a "
    "backfill launches them: the runs go to every GPU worker at once, and in each the VAE loads and compiles once, "
    "not at all when every cache is current); only new or stale clips are decoded and encoded.",
)
def latents_nightly_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else "manual"
    keys = context.instance.get_dynamic_partitions(shard_partitions.name)
    if not keys:
        yield dg.SkipReason("no shards yet: materialise scenario_metadata first")
        return
    for first, last in shard_run_ranges(keys):
        yield dg.RunRequest(run_key=f"{day}:{first}", tags=partition_range_tags(first, last))

# Declarative automation: a refreshed raw asset (new data version) or a changed scenarios YAML (new code version)
# marks downstream assets stale; they update once their upstream blocking checks pass.
prep_automation_sensor = dg.AutomationConditionSensorDefinition(
    "prep_automation_sensor",
    # Every group whose assets have an automation condition (prompt embeddings included): an asset left out would
    # make Dagster add its own default_automation_condition_sensor, one the README does not name.
    target=dg.AssetSelection.groups("metadata", "eval", "frames", "latents", "prompts"),
    default_status=dg.DefaultSensorStatus.STOPPED,
)
