"""finetrainers (current main; CogVideoX there is text-to-video), reusing precomputed data:
`finetrainers-precomputed-data/latent-<i>.pt` with `{"latents": [1, F, 2C, H, W]}` (mean and logvar on the channel
axis, frames first, unscaled: it samples and scales unless the VAE inverts the scale) and `condition-<i>.pt` with
`{"encoder_hidden_states": [1, L, D]}`, `i` running over the samples in export order (export.json maps it to the
stem). It still opens a dataset at start-up (`--dataset_config`), so the export carries `dataset_config.json` naming
itself, with `prompts.txt` and `videos.txt` in the same order; with reuse the videos are never decoded."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import torch

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import (
    all_finite,
    check_lists,
    latent_grid,
    latent_tensors,
    moments,
    same_values,
    save_tensor,
    write_file,
    write_lists,
)
from prep_platform.lib.files.prompt_embedding_file import load_prompt_embedding

NAME = "finetrainers"
NEEDS_EMBEDDINGS = True
NEEDS_IMAGES = False
LOSSY = False
DATA_DIR = "finetrainers-precomputed-data"  # finetrainers' PRECOMPUTED_DATA_DIR, under --precomputation_dir
DATASET_CONFIG = "dataset_config.json"


def options(samples: list[ExportSample], request) -> dict:
    return {}


def launch(samples: list[ExportSample], folder: Path, options: dict) -> dict:
    where = shlex.quote(str(folder))
    return {
        "command": "accelerate launch train.py --model_name cogvideox --pretrained_model_name_or_path <model_path> "
                   f"--training_type lora --dataset_config {shlex.quote(str(folder / DATASET_CONFIG))} "
                   f"--enable_precomputation --precomputation_reuse --precomputation_dir {where} "
                   f"--precomputation_items {len(samples)} --dataloader_num_workers 0 --output_dir <output_dir>",
        "placeholders": {"<model_path>": f"a CogVideoX model (its VAE: {samples[0].header['model_id']})",
                         "<output_dir>": "a new folder for checkpoints, outside the export"},
        "notes": "run from a finetrainers checkout; all four precomputation flags are needed (without "
                 "--enable_precomputation it encodes the raw videos); --dataloader_num_workers 0 keeps its data loader "
                 "from decoding videos it never uses",
    }


def dataset_config(samples: list[ExportSample], folder: Path) -> dict:
    h = samples[0].header
    return {"datasets": [{"data_root": str(folder), "dataset_type": "video",
                          "video_resolution_buckets": [[h["frames"], h["height"], h["width"]]],
                          "reshape_mode": "bicubic", "remove_common_llm_caption_prefixes": False}]}


def write(samples: list[ExportSample], folder: Path, *, final: Path, **_) -> dict[str, list[str]]:
    data = folder / DATA_DIR
    files = {}
    for index, sample in enumerate(samples):
        latents = moments(latent_tensors(sample.latent_path)).permute(1, 0, 2, 3).unsqueeze(0).contiguous()
        save_tensor({"latents": latents}, data / f"latent-{index}.pt")
        _, embedding = load_prompt_embedding(sample.prompt_embedding)
        save_tensor({"encoder_hidden_states": embedding.unsqueeze(0).contiguous()}, data / f"condition-{index}.pt")
        files[sample.stem] = [f"{DATA_DIR}/latent-{index}.pt", f"{DATA_DIR}/condition-{index}.pt"]
    write_lists(folder, samples)
    write_file(folder / DATASET_CONFIG, json.dumps(dataset_config(samples, final), indent=1).encode())
    return files


def problems(folder: Path, export: dict) -> list[str]:
    _, found = check_lists(folder, export, ("prompts", "videos"))
    data = folder / DATA_DIR
    stems = list(export["stems"].items())
    for kind in ("latent", "condition"):
        names = sorted(p.name for p in data.glob(f"{kind}-*.pt"))
        wanted = sorted(f"{kind}-{i}.pt" for i in range(len(stems)))
        if names != wanted:  # the trainer counts the files and reads latent-0 .. latent-(N-1)
            found.append(f"{data}: {len(names)} {kind} files, expected {kind}-0 .. {kind}-{len(stems) - 1}")
    for index, (stem, sample) in enumerate(stems):
        if sample["files"] != [f"{DATA_DIR}/latent-{index}.pt", f"{DATA_DIR}/condition-{index}.pt"]:
            found.append(f"{stem}: files {sample['files']} are not item {index} of the export order")
            continue
        found += [f"{stem}: {p}" for p in _item_problems(data, index, sample)]
        if len(found) >= 20:
            break
    return found


def _item_problems(data: Path, index: int, sample: dict) -> list[str]:
    try:
        latents = torch.load(data / f"latent-{index}.pt", map_location="cpu", weights_only=True).get("latents")
        condition = torch.load(data / f"condition-{index}.pt", map_location="cpu", weights_only=True).get("encoder_hidden_states")
    except Exception as exc:  # torch raises several kinds for a damaged file
        return [f"item {index} unreadable: {type(exc).__name__}: {exc}"]
    h = sample["header"]
    t, hh, ww = latent_grid(h)
    shape = (1, t, 2 * h["latent_channels"], hh, ww)
    found = []
    if latents is None or tuple(latents.shape) != shape or not latents.is_floating_point():
        found.append(f"latents {None if latents is None else [*latents.shape, str(latents.dtype)]}, expected float {list(shape)}")
    elif not all_finite(latents):
        found.append(f"latent-{index}.pt has non-finite values")
    else:
        try:
            mean = latent_tensors(sample["latent_path"])["latent_mean"].permute(1, 0, 2, 3)
        except (OSError, ValueError) as exc:
            return [str(exc)]
        if not same_values(latents[0, :, : h["latent_channels"]].contiguous(), mean.contiguous()):
            found.append("latents are not the cache's unscaled mean, frames first")
    if (condition is None or condition.dim() != 3 or condition.shape[0] != 1 or not condition.is_floating_point()
            or not all_finite(condition)):
        found.append("encoder_hidden_states is not a finite [1, length, hidden] tensor")
    return found
