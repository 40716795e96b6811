"""Evaluation prompts from VATEX: English and Chinese prompts per clip, scenario labels, conditioning images."""

import dagster as dg

from prep_platform.defs.automation.conditions import downstream_automation
from prep_platform.defs.raw.vatex import vatex_raw
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.lib import pipeline
from prep_platform.lib.sources.vatex import NOT_CONFIGURED


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="eval",
    deps=[vatex_raw],
    kinds={"python", "json"},
    owners=["team:data-prep"],
    automation_condition=downstream_automation(),
    description="Per VATEX clip: English and Chinese captions and prompts, the scenario from the training labeller "
    "(English captions), and for clips with video the conditioning image at the training size.",
)
def vatex_eval_prompts(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    layout = settings.layout()
    document = pipeline.build_eval_prompts(settings.core(), layout)
    if document is None:
        context.log.warning("VATEX is not configured: no evaluation prompts (see vatex_raw's metadata)")
        return dg.MaterializeResult(metadata={"state": NOT_CONFIGURED, "dagster/row_count": 0})
    table = "\n".join(["| scenario | en | zh | with image |", "| --- | --- | --- | --- |"]
                      + [f"| {k} | {v['en']} | {v['zh']} | {v['with_image']} |" for k, v in document["summary"].items()])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(document["prompts"]),
            "path": dg.MetadataValue.path(str(layout.eval.prompts)),
            "per_scenario_and_language": dg.MetadataValue.md(table),
            "with_image": sum(v["with_image"] for v in document["summary"].values()),
        }
    )
