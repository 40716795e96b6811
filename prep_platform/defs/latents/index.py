"""The trainer's index per scenario: only clips whose latent caches passed the blocking check get in."""

import json

import dagster as dg

from prep_platform.defs.automation.schedules import downstream_automation
from prep_platform.defs.frames.assets import partition_records
from prep_platform.defs.frames.checks import load_frames_manifest
from prep_platform.defs.latents.assets import clip_latents
from prep_platform.defs.partitions import scenario_partitions
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib.atomic import write_text_atomic
from prep_platform.lib.prepare import LATENTS_MANIFEST
from prep_platform.defs.tags import CPU_STEP_TAGS

INDEX_FILE = "training_index.jsonl"


@dg.asset(
    op_tags=CPU_STEP_TAGS,
    group_name="latents",
    deps=[clip_latents],
    partitions_def=scenario_partitions,
    kinds={"python", "json"},
    owners=["team:data-prep"],
    automation_condition=downstream_automation(),
    description="One JSON line per clip with a verified latent cache: split, caption, prompt variants, latent and "
    "image paths, augmentations. Runs only after clip_latents' blocking check passed.",
)
def training_index(context: dg.AssetExecutionContext, settings: PrepPlatformSettings) -> dg.MaterializeResult:
    scenario = context.partition_key
    latents = json.loads((settings.latents_root() / scenario / LATENTS_MANIFEST).read_text())
    cached: dict[str, dict[str, str]] = {}
    for row in latents["clips"]:
        if row["status"] in ("encoded", "skipped", "moved"):
            cached.setdefault(row["video_id"], {})[row["augmentation"]] = row["latent_path"]
    frames = load_frames_manifest(settings, scenario) or {"clips": []}
    images = {clip["video_id"]: clip["image_path"] for clip in frames["clips"] if clip["status"] == "ok"}
    lines = []
    for record in partition_records(settings, scenario):
        variants = cached.get(record["video_id"], {})
        if "none" not in variants:
            continue
        lines.append(json.dumps({
            "video_id": record["video_id"], "split": record["split"], "caption": record["caption"],
            "prompt_variants": record["prompt_variants"], "latent_path": variants["none"],
            "image_path": images.get(record["video_id"], record["image_path"]), "augmentations": {k: v for k, v in variants.items() if k != "none"},
            "dataset": record["source"]["dataset"],
        }, ensure_ascii=False))
    path = settings.latents_root() / scenario / INDEX_FILE
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
    splits = [json.loads(line)["split"] for line in lines]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(lines),
            "path": dg.MetadataValue.path(str(path)),
            "train": splits.count("train"),
            "validation": splits.count("validation"),
        }
    )
