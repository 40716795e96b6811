"""Panda-70M: manual-access instructions, a balanced subset from a user's CSV, and ingest of downloaded shards."""

import dagster as dg

from prep_platform.defs.markdown import bullets
from prep_platform.defs.resources import PrepPlatformSettings, run_config_class, run_settings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.versioning import file_data_version
from prep_platform.lib import pipeline
from prep_platform.lib.sources.panda70m import NO_CSV_PRESENT, find_csvs

PANDA_ASSET = dict(op_tags=CPU_STEP_TAGS, group_name="raw", kinds={"python"}, owners=["team:data-prep"])


@dg.asset(
    **PANDA_ASSET,
    description="README with the manual Panda-70M steps: CSV sources and split sizes, columns, the official download "
    "command, licence, rate-limit advice. Downloads nothing.",
)
def panda70m_instructions(settings: PrepPlatformSettings) -> dg.MaterializeResult:
    layout = settings.layout()
    path = pipeline.panda_instructions(settings.core(), layout)
    csvs = find_csvs(layout.panda.root)
    return dg.MaterializeResult(
        metadata={"readme": dg.MetadataValue.path(str(path)), "csvs_present": dg.MetadataValue.json([p.name for p in csvs])}
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


@dg.asset(
    **PANDA_ASSET,
    deps=[panda70m_instructions],
    description="Downloaded Panda-70M shards (shards/NNNNN/KEY.{mp4,txt,json}) probed into a manifest: a second "
    "training source that scenario metadata and the latent caches take beside MSR-VTT.",
)
def panda70m_shards(settings: PrepPlatformSettings) -> dg.MaterializeResult:
    summary = pipeline.ingest_panda_shards(settings.core(), settings.layout())
    return dg.MaterializeResult(
        data_version=file_data_version(summary["manifest"]),
        metadata={
            "dagster/row_count": summary["clips"],
            "manifest": dg.MetadataValue.path(summary["manifest"]),
            "status_counts": dg.MetadataValue.json(summary["counts"]),
        }
    )
