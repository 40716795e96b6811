"""Storage checks, run with scenario_metadata: before frames and latents are written, is there room for them,
and is every data layer within its budget?"""

import dagster as dg

from prep_platform.defs.metadata.assets import scenario_metadata
from prep_platform.defs.resources import PrepPlatformSettings, VaeResource
from prep_platform.lib.files.metadata_store import record_groups
from prep_platform.lib.files.disk_usage import free_bytes, layer_bytes, next_materialisation_bytes
from prep_platform.lib.models.vae import latent_channels
from prep_platform.defs.markdown import bullets

GB = 1e9


@dg.asset_check(
    asset=scenario_metadata,
    blocking=True,
    description="Free space on the data volume against the estimated need of the frames and latents still to write: "
    "ERROR when they cannot fit (downstream is blocked), WARN when less than the reserve (default 60 GB, 1 GB on the demo sample) would remain.",
)
def storage_free_space_check(settings: PrepPlatformSettings, vae: VaeResource) -> dg.AssetCheckResult:
    layout = settings.layout()
    channels = latent_channels(vae.settings(), settings.core().model())  # from the VAE's own config, not a guess
    need = sum(next_materialisation_bytes(group, layout, channels=channels, augment=settings.augment,
                                          windows_per_clip=settings.windows_per_clip)
               for group in record_groups(layout.metadata_file, ["video_id", "scenario"]))  # a shard at a time
    free = free_bytes(layout.root)
    reserve_gb = settings.core().free_space_reserve()
    reserve = reserve_gb * GB
    fits, comfortable = free >= need, free - need >= reserve
    return dg.AssetCheckResult(
        passed=fits and comfortable,
        severity=dg.AssetCheckSeverity.ERROR if not fits else dg.AssetCheckSeverity.WARN,
        metadata={
            "free_gb": round(free / GB, 3),
            "estimated_need_gb": round(need / GB, 6),
            "reserve_gb": reserve_gb,
            "latent_channels": channels,
            "verdict": "fits" if fits and comfortable else ("below the reserve" if fits else "cannot fit"),
        },
    )


@dg.asset_check(
    asset=scenario_metadata,
    description="Measured size of each data layer (raw, metadata, frames, latents, eval) against its budget, and "
    "the curated subset (the clips the metadata uses) against its budget (default 6 GB). WARN when over.",
)
def storage_budgets_check(settings: PrepPlatformSettings) -> dg.AssetCheckResult:
    layout = settings.layout()
    sizes = layer_bytes(layout.layers())
    curated = sum(int(r["source"].get("bytes") or 0)
                  for group in record_groups(layout.metadata_file, ["source"]) for r in group)
    budgets = {"raw": settings.budget_raw_gb, "metadata": settings.budget_metadata_gb, "frames": settings.budget_frames_gb,
               "latents": settings.budget_latents_gb, "eval": settings.budget_eval_gb}
    over = [f"{layer}: {sizes[layer] / GB:.3f} GB > {budget} GB" for layer, budget in budgets.items() if sizes[layer] > budget * GB]
    if curated > settings.storage_budget_gb * GB:
        over.append(f"curated subset: {curated / GB:.3f} GB > {settings.storage_budget_gb} GB")
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **{f"{layer}_gb": round(size / GB, 6) for layer, size in sizes.items()},
            "curated_subset_gb": round(curated / GB, 6),
            "budgets_gb": dg.MetadataValue.json({**budgets, "curated_subset": settings.storage_budget_gb}),
            "over_budget": bullets(over),
        },
    )
