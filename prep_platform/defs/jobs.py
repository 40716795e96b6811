"""Jobs. `prep_job`: downloads and metadata. `latents_job`: one scenario's frames and latents, on an executor
that runs at most one GPU step at a time."""

import dagster as dg


prep_job = dg.define_asset_job(
    "prep_job",
    selection=dg.AssetSelection.groups("raw", "metadata", "eval"),
    description="Downloads (MSR-VTT, VATEX, Panda-70M instructions, subset and shards), scenario metadata, VATEX "
    "evaluation prompts, and their checks.",
)

# Frame work runs in its own step without the gpu tag, so it never holds the GPU slot; forkserver, never fork
# (CUDA state must not be forked).
gpu_executor = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 4,
        "tag_concurrency_limits": [{"key": "prep_platform/resource", "value": "gpu", "limit": 1}],
        "start_method": {"forkserver": {}},
    },
    name="gpu_multiprocess_executor",
)

latents_job = dg.define_asset_job(
    "latents_job",
    selection=dg.AssetSelection.groups("frames", "latents"),
    executor_def=gpu_executor,
    description="Frames and VAE latents for one scenario partition; GPU steps one at a time.",
)
