"""Training exports, one partition per trainer format: the prepared latents, images and prompt embeddings laid
out the way that trainer reads them."""

import dagster as dg

from prep_platform.defs.latents.training_index import training_index
from prep_platform.defs.markdown import bullets
from prep_platform.defs.prompts.assets import prompt_embeddings
from prep_platform.defs.resources import PrepPlatformSettings, run_config_class, run_settings
from prep_platform.defs.tags import CPU_STEP_TAGS
from prep_platform.lib import pipeline
from prep_platform.lib.profiles import PROFILES

# A partition per format any model profile serves, by name: the format writers import torch, which a code server and
# every step that exports nothing would otherwise load (a test checks the names against the writers' registry).
EXPORT_FORMAT_NAMES = list(dict.fromkeys(name for profile in PROFILES.values() for name in profile.export_formats))
export_format_partitions = dg.StaticPartitionsDefinition(EXPORT_FORMAT_NAMES)
TrainingExportsConfig = run_config_class("TrainingExportsConfig", "export_split")


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="exports",
    partitions_def=export_format_partitions,
    # Every scenario's index and prompt embeddings go into each format's export.
    deps=[dg.AssetDep(training_index, partition_mapping=dg.AllPartitionMapping()),
          dg.AssetDep(prompt_embeddings, partition_mapping=dg.AllPartitionMapping())],
    kinds={"python", "pytorch"},
    owners=["team:data-prep"],
    description="The training set in a trainer's own layout: cogvideox-factory (--load_tensors), CogVideo finetune "
    "(its cache), finetrainers (precomputed data) or diffusers (videos + captions). Stems are dot-free and unique; "
    "export.json maps each to its clip, augmentation and prompt variant and prints the launch command. Read back by the "
    "trainer's rules before it replaces the previous export; unchanged inputs, no writes.",
)
def training_exports(context: dg.AssetExecutionContext, config: TrainingExportsConfig,
                     settings: PrepPlatformSettings) -> dg.MaterializeResult:
    export_format = context.partition_key
    prep = run_settings(settings, config)
    result = pipeline.export_training_set(prep, prep.layout(), export_format)
    export = result.export
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.stems,
            "path": dg.MetadataValue.path(str(result.folder)),
            "state": result.state,
            "stems": result.stems,
            "clips": export["counts"]["clips"],
            "per_scenario": dg.MetadataValue.json(export["counts"]["per_scenario"]),
            "per_augmentation": dg.MetadataValue.json(export["counts"]["per_augmentation"]),
            "lossy": export["lossy"],
            "launch_command": dg.MetadataValue.md(f"`{export['launch']['command']}`\n\n{export['launch']['notes']}"),
            "left_out": export["counts"].get("left_out", 0),
            "left_out_samples": bullets([f"{item['sample']}: {item['reason']}" for item in export.get("left_out", [])], 20),
            "scenarios_without_training_index": bullets(export.get("scenarios_without_training_index", [])),
            "duration_s": result.duration_s,
            "read_back_s": result.read_back_s,
        }
    )
