"""Checks on an export: read back by its trainer's rules, counted against the training index."""

import dagster as dg

from prep_platform.defs.exports.assets import export_format_partitions, training_exports
from prep_platform.defs.markdown import bullets
from prep_platform.defs.shard_assets import partitioned_asset_check
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib import pipeline


@partitioned_asset_check(
    export_format_partitions,
    asset=training_exports,
    blocking=True,
    description="Every exported stem has all its files with the shapes, dtypes and scaling its trainer needs (read "
    "back by that trainer's rules); the stems are exactly the training index's clips x augmentations x prompt "
    "variants, each with its prompt embedding.",
)
def training_exports_files_check(context: dg.AssetCheckExecutionContext, settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    from prep_platform.lib.exports.export import export_problems, read_export  # torch: only where an export is checked

    export_format = context.partition_key
    prep, layout = settings.core(), settings.layout()
    folder = layout.export_root(export_format)
    problems = export_problems(folder)
    export = read_export(folder) or {"stems": {}}
    collected, _ = pipeline.export_samples(prep, layout, export_format)
    expected = collected.samples
    if sorted(export["stems"]) != sorted(s.stem for s in expected):
        problems.append(f"{len(export['stems'])} stems exported, the training index makes {len(expected)}")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"stems": len(export["stems"]), "expected_stems": len(expected), "problems": bullets(problems, 20)},
    )
