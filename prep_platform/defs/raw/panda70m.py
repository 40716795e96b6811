"""Panda-70M: manual-access instructions, a balanced subset from a user's CSV, and ingest of downloaded shards."""

import dagster as dg

from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.panda70m import (
    NO_CSV_PRESENT,
    SUBSET_CSV,
    build_panda_subset,
    find_csvs,
    ingest_panda_shards,
    write_instructions,
)
from prep_platform.lib.scenarios import ScenarioLabeller, load_scenarios
from prep_platform.defs.versioning import file_data_version
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.defs.markdown import bullets


def _place_sample(settings: PrepPlatformSettings) -> None:
    """The demo (sample source) puts a small CSV and four downloaded clips where a user would."""
    if settings.msr_vtt_source == "sample":
        from prep_platform.lib.sample_panda import generate_panda_sample

        generate_panda_sample(settings.panda_dir)


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="raw",
    kinds={"python"},
    owners=["team:data-prep"],
    description="README with the manual Panda-70M steps: CSV sources and split sizes, columns, the official download "
    "command, licence, rate-limit advice. Downloads nothing.",
)
def panda70m_instructions(settings: PrepPlatformSettings) -> dg.MaterializeResult:
    path = write_instructions(settings.panda_dir)
    _place_sample(settings)
    csvs = find_csvs(settings.panda_dir)
    return dg.MaterializeResult(
        metadata={"readme": dg.MetadataValue.path(str(path)), "csvs_present": dg.MetadataValue.json([p.name for p in csvs])}
    )


class Panda70mSubsetConfig(dg.Config):
    total: int = 500
    min_matching_score: float = 0.4


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="raw",
    deps=[panda70m_instructions],
    kinds={"python"},
    owners=["team:data-prep"],
    description="From the Panda-70M CSVs in data/raw/panda70m: desirable clips above the matching-score threshold, "
    "labelled with the scenario labeller, balanced over urban, nature, transport and crowd; a CSV for the official "
    "downloader and a size/time estimate. Rows that fail to parse are counted with their line numbers.",
)
def panda70m_subset(context: dg.AssetExecutionContext, config: Panda70mSubsetConfig, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    report = build_panda_subset(
        settings.panda_dir, ScenarioLabeller(load_scenarios()), total=config.total,
        min_matching_score=config.min_matching_score, storage_budget_gb=settings.storage_budget_gb,
    )
    if report["state"] == NO_CSV_PRESENT:
        context.log.warning(f"no Panda-70M CSV in {settings.panda_dir}: see the README there")
        return dg.MaterializeResult(metadata={"state": NO_CSV_PRESENT, "csv_present": False, "clips_selected": 0,
                                              "what_to_do": report["what_to_do"]})
    return dg.MaterializeResult(
        metadata={
            "state": report["state"],
            "csv_present": True,
            "subset_csv": dg.MetadataValue.path(str(settings.panda_dir / SUBSET_CSV)),
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
    op_tags=CPU_STEP_TAGS,
    group_name="raw",
    deps=[panda70m_instructions],
    kinds={"python"},
    owners=["team:data-prep"],
    description="Downloaded Panda-70M shards (shards/NNNNN/KEY.{mp4,txt,json}) probed into a manifest: a second "
    "training source that scenario metadata and the latent caches take beside MSR-VTT.",
)
def panda70m_shards(settings: PrepPlatformSettings) -> dg.MaterializeResult:
    summary = ingest_panda_shards(settings.panda_dir)
    return dg.MaterializeResult(
        data_version=file_data_version(summary["manifest"]),
        metadata={
            "dagster/row_count": summary["clips"],
            "manifest": dg.MetadataValue.path(summary["manifest"]),
            "status_counts": dg.MetadataValue.json(summary["counts"]),
        }
    )
