"""Scenario metadata: every usable clip labelled with a scenario, prompt variants, a train/validation split."""


import dagster as dg

from prep_platform import __version__
from prep_platform.defs.automation.conditions import downstream_automation
from prep_platform.defs.partitions import SCENARIOS, register_shards
from prep_platform.defs.progress import clip_progress_logger
from prep_platform.defs.raw.msr_vtt import msr_vtt_raw
from prep_platform.defs.raw.panda70m import panda70m_shards
from prep_platform.defs.resources import PrepPlatformSettings, run_config_class, run_settings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.versioning import file_data_version
from prep_platform.lib import pipeline
from prep_platform.lib.files.metadata_store import JSON_COLUMNS
from prep_platform.lib.files.metadata_store import SCHEMA as STORE_SCHEMA
from prep_platform.lib.stages.metadata import MetadataRecord

def record_table_schema() -> dg.TableSchema:
    """The store's columns (files.metadata_store.SCHEMA, typed from stages.metadata.MetadataRecord) as Dagster shows
    them: one definition for the Parquet file and the UI."""
    def kind(field) -> str:
        if field.name in JSON_COLUMNS:
            return "json"
        return {"string": "string", "int32": "int", "list<item: string>": "list[string]"}.get(str(field.type), str(field.type))

    return dg.TableSchema(columns=[
        dg.TableColumn(field.name, kind(field), description=MetadataRecord.model_fields[field.name].description or "",
                       constraints=dg.TableColumnConstraints(nullable=field.nullable))
        for field in STORE_SCHEMA
    ])


RECORD_SCHEMA = record_table_schema()


ScenarioMetadataConfig = run_config_class(
    "ScenarioMetadataConfig", "scenarios_file", "metadata_limit", "validation_ratio", "split_seed", "shard_size",
)


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="metadata",
    deps=[msr_vtt_raw, panda70m_shards],
    kinds={"python", "json"},
    owners=["team:data-prep"],
    # The scenarios YAML is part of this asset's code: editing it makes the metadata (and what follows) stale.
    code_version=f"{__version__}-{SCENARIOS.fingerprint()}",
    automation_condition=downstream_automation(),
    description="{train, validation} records for the trainer: scenario label with its evidence, prompt variants "
    "(caption first), image and latent paths. Clips kept out are listed with the reason in the report.",
)
def scenario_metadata(
    context: dg.AssetExecutionContext, config: ScenarioMetadataConfig, settings: PrepPlatformSettings
) -> dg.MaterializeResult:
    prep = run_settings(settings, config)
    layout = prep.layout()
    result = pipeline.build_metadata(prep, layout, progress_for=lambda what, unit: clip_progress_logger(
        context, what, unit=unit, failed="kept out"))
    output = layout.metadata_file
    shard_keys = pipeline.shard_keys(prep, layout)
    added = register_shards(context.instance, shard_keys)
    context.log.info(f"{len(shard_keys)} shards of work ({len(added)} new: {', '.join(added[:10]) or 'none'})")
    counts = result.counts
    context.log.info(f"{counts['labelled']} clips labelled, {counts['excluded']} kept out: {counts['excluded_by_reason']}")
    per_scenario = counts["per_scenario"]
    table = "\n".join(
        ["| scenario | train | validation |", "| --- | --- | --- |"]
        + [f"| {name} | {n['train']} | {n['validation']} |" for name, n in per_scenario.items()]
    )
    return dg.MaterializeResult(
        data_version=file_data_version(output),
        metadata={
            "dagster/row_count": counts["train"] + counts["validation"],
            "dagster/column_schema": RECORD_SCHEMA,
            "path": dg.MetadataValue.path(str(output)),
            "view": dg.MetadataValue.path(str(layout.metadata_view)),
            "report": dg.MetadataValue.path(str(layout.metadata_report)),
            "train": counts["train"],
            "validation": counts["validation"],
            "excluded": counts["excluded"],
            "excluded_by_reason": dg.MetadataValue.json(counts["excluded_by_reason"]),
            "clips_per_dataset": dg.MetadataValue.json(counts["per_dataset"]),
            "per_scenario": dg.MetadataValue.md(table),
            "shards": len(shard_keys),
            "shards_per_scenario": dg.MetadataValue.json(result.counts["shards_per_scenario"]),
            "scenarios_fingerprint": result.report["inputs"]["scenarios_fingerprint"],
            **labelling_metadata(result.report["labelling"]),
            "duration_s": result.report["duration_s"],
        }
    )


def labelling_metadata(labelling: dict) -> dict:
    """How the labels were made and how sure they are: the labeller, the label distribution, a confidence
    histogram, the low-confidence share and the least confident labelled clips (a table)."""
    least = "\n".join(
        ["| clip | scenario | confidence | votes |", "| --- | --- | --- | --- |"]
        + [f"| {row['video_id']} | {row['scenario']} | {row['confidence']} | {row['votes']} |"
           for row in labelling.get("least_confident", [])]
    )
    return {
        "labeller": labelling.get("labeller", ""),
        "label_model": labelling.get("model", "") or "none (keywords)",
        "label_distribution": dg.MetadataValue.json(labelling.get("labels", {})),
        "confidence_histogram": dg.MetadataValue.json(labelling.get("confidence_histogram", {})),
        "low_confidence_share": labelling.get("low_confidence_share", 0.0),
        "least_confident_labels": dg.MetadataValue.md(least),
    }
