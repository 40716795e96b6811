"""Panda-70M: manual-access instructions, a balanced subset from a user's CSV, and ingest of downloaded shards."""

import json
import warnings

import dagster as dg

from prep_platform.defs.markdown import bullets
from prep_platform.defs.partitions import add_new_partitions
from prep_platform.defs.resources import PrepPlatformSettings, run_config_class, run_settings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.versioning import file_data_version
from prep_platform.lib import pipeline
from prep_platform.lib.sources.panda70m import (
    NO_CSV_PRESENT, download_shards, find_csvs, shard_name_problem, shard_signature,
)
from prep_platform.samples import DEMO_SAMPLE

PANDA_ASSET = dict(op_tags=CPU_STEP_TAGS, group_name="raw", kinds={"python"}, owners=["team:data-prep"])

# One partition per download shard as the downloader writes it: a folder `NNNNN` (files layout) or a tar
# `NNNNN.tar` (webdataset). Added by panda70m_shards_sensor as shards appear (and by panda70m_instructions for the
# ones already there), so shards that arrive over days are ingested one by one as they come.
download_shard_partitions = dg.DynamicPartitionsDefinition(name="panda_download_shards")


def register_download_shards(instance: dg.DagsterInstance, names: list[str]) -> list[str]:
    """Adds the shards the ingest accepts (lib.sources.panda70m.shard_name_problem) as partitions; the new ones."""
    return add_new_partitions(instance, download_shard_partitions, [n for n in names if not shard_name_problem(n)])


def refused_shard_names(names) -> dict[str, str]:
    """name -> why, for the shards whose name the ingest refuses: never partitions, told instead."""
    return {name: problem for name in names if (problem := shard_name_problem(name))}


@dg.asset(
    **PANDA_ASSET,
    description="README with the manual Panda-70M steps: CSV sources and split sizes, columns, the official download "
    "command, licence, rate-limit advice. Downloads nothing.",
)
def panda70m_instructions(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    layout = settings.layout()
    path = pipeline.panda_instructions(settings.core(), layout, sample=DEMO_SAMPLE)
    csvs = find_csvs(layout.panda.root)
    # Download shards already there (the sample's, or a user's) become ingest partitions now; the sensor adds later ones.
    shards = list(download_shards(layout.panda))
    added = register_download_shards(context.instance, shards)
    refused = refused_shard_names(shards)
    for problem in refused.values():
        context.log.warning(f"download shard not ingested: {problem}")
    return dg.MaterializeResult(
        metadata={"readme": dg.MetadataValue.path(str(path)), "csvs_present": dg.MetadataValue.json([p.name for p in csvs]),
                  "download_shards_added": dg.MetadataValue.json(added),
                  "download_shards_refused": dg.MetadataValue.json(refused)}
    )


Panda70mSubsetConfig = run_config_class("Panda70mSubsetConfig", "panda_subset_total", "panda_min_matching_score")


@dg.asset(
    **PANDA_ASSET,
    deps=[panda70m_instructions],
    description="From the Panda-70M CSVs in data/raw/panda70m: desirable clips above the matching-score threshold, "
    "labelled with the scenario labeller, balanced over urban, nature, transport and crowd; a CSV for the official "
    "downloader and a size/time estimate. Rows that fail to parse are counted with their line numbers.",
)
def panda70m_subset(context: dg.AssetExecutionContext, config: Panda70mSubsetConfig, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    prep = run_settings(settings, config)
    layout = prep.layout()
    report = pipeline.select_panda_subset(prep, layout)
    if report["state"] == NO_CSV_PRESENT:
        context.log.warning(f"no Panda-70M CSV in {layout.panda.root}: see the README there")
        return dg.MaterializeResult(metadata={"state": NO_CSV_PRESENT, "csv_present": False, "clips_selected": 0,
                                              "what_to_do": report["what_to_do"]})
    return dg.MaterializeResult(
        metadata={
            "state": report["state"],
            "csv_present": True,
            "subset_csv": dg.MetadataValue.path(str(layout.panda.subset_csv)),
            "rows": report["rows"],
            "rows_failed": report["rows_failed"],
            "failed_lines": bullets((f"{e['file']}:{e['line']} {e['videoID']}: {e['error']}" for e in report["parse_errors"]), 50),
            "clips_selected": report["estimate"]["clips"],
            "per_scenario": dg.MetadataValue.json(report["per_scenario"]),
            "filtered": dg.MetadataValue.json(report["filtered"]),
            "estimated_gb": report["estimate"]["estimated_gb"],
            "estimated_download_hours": report["estimate"]["estimated_download_hours"],
            "estimate_assumptions": report["estimate"]["assumptions"],
        }
    )


with warnings.catch_warnings():  # backfill_policy is beta in dagster 1.13: used on purpose here
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

    @dg.asset(
        **PANDA_ASSET,
        deps=[panda70m_instructions],
        partitions_def=download_shard_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),  # probing is light: one run ingests every new shard
        description="One downloaded Panda-70M shard per partition, in either downloader layout: a folder "
        "(shards/NNNNN/KEY.{mp4,txt,json}) or a webdataset tar (shards/NNNNN.tar, read in place: a member is read when "
        "its clip is probed, nothing is extracted), probed into raw/panda70m/ingested/SHARD.csv; a shard that did "
        "not change since is not read again. A truncated tar or a member without caption marks those clips, never "
        "the run. A second training source that scenario metadata takes beside MSR-VTT.",
    )
    def panda70m_shards(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
        layout = settings.layout()
        summary = pipeline.ingest_panda_shards(settings.core(), layout, shards=list(context.partition_keys))
        for problem in summary["problems"]:
            context.log.warning(problem)
        return dg.MaterializeResult(
            data_version=file_data_version(*summary["manifests"]) if summary["manifests"] else None,
            metadata={
                "dagster/row_count": summary["clips"],
                "manifests": dg.MetadataValue.json(summary["manifests"]),
                "status_counts": dg.MetadataValue.json(summary["counts"]),
                "clips_failed": sum(n for status, n in summary["counts"].items() if status != "ok"),
                "failed_clips": bullets((f"{f['video_id']}: {f['status']}: {f['reason']}" for f in summary["failed"]), 50),
                "shards_skipped_unchanged": summary["shards_skipped"],
                "shard_problems": bullets(summary["problems"], 20),
            },
        )


@dg.sensor(
    job_name="panda_ingest_job",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches raw/panda70m/shards: a download shard (folder or tar) that appears becomes a partition of "
    "panda70m_shards and is ingested; one that grew or changed since (the downloader still writing it) is ingested "
    "again. Stat only: no clip is read by the sensor. A shard whose name the ingest refuses (a space, a newline, "
    "over 128 characters) is never a partition: the sensor logs why, once per change.",
)
def panda70m_shards_sensor(context: dg.SensorEvaluationContext, settings: PrepPlatformSettings):
    seen = json.loads(context.cursor) if context.cursor else {}
    now = {name: shard_signature(path) for name, path in download_shards(settings.layout().panda).items()}
    refused = refused_shard_names(now)
    for name, problem in refused.items():
        if seen.get(name) != now[name]:  # in the cursor like the others: told when it appears or changes, not every tick
            context.log.warning(f"download shard not ingested: {problem}")
    known = set(context.instance.get_dynamic_partitions(download_shard_partitions.name))
    new = [name for name in now if name not in known and name not in refused]
    changed = [name for name, signature in now.items() if seen.get(name) != signature and name not in refused]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{name}:{now[name]}", partition_key=name) for name in changed],
        dynamic_partitions_requests=[download_shard_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(now, sort_keys=True),
    )
