"""finetrainers (current main; CogVideoX there is text-to-video): `finetrainers-precomputed-data/latent-<i>.pt`
with `{"latents": [1, F, 2C, H, W]}` (mean and logvar on the channel axis, frames first, unscaled: it samples and
scales unless the VAE inverts the scale) and `condition-<i>.pt` with `{"encoder_hidden_states": [1, L, D]}`.
`i` runs over the samples in export order; export.json maps it to the stem."""

from __future__ import annotations

from pathlib import Path

import torch

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import latent_tensors, moments
from prep_platform.lib.files.prompt_embedding_file import load_prompt_embedding

NAME = "finetrainers"
NEEDS_EMBEDDINGS = True
LOSSY = False
DATA_DIR = "finetrainers-precomputed-data"


def launch_flags(samples: list[ExportSample]) -> str:
    return "--precomputation_reuse --output_dir <export> (the data dir is <export>/finetrainers-precomputed-data)"


def write(samples: list[ExportSample], folder: Path, **_) -> dict[str, list[str]]:
    data = folder / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    files = {}
    for index, sample in enumerate(samples):
        latents = moments(latent_tensors(sample.latent_path)).permute(1, 0, 2, 3).unsqueeze(0).contiguous()
        torch.save({"latents": latents}, data / f"latent-{index}.pt")
        _, embedding = load_prompt_embedding(sample.prompt_embedding)
        torch.save({"encoder_hidden_states": embedding.unsqueeze(0).contiguous()}, data / f"condition-{index}.pt")
        files[sample.stem] = [f"{DATA_DIR}/latent-{index}.pt", f"{DATA_DIR}/condition-{index}.pt"]
    return files


def problems(folder: Path, export: dict) -> list[str]:
    found = []
    data = folder / DATA_DIR
    for stem, sample in export["stems"].items():
        latent_name, condition_name = (Path(f).name for f in sample["files"])
        latents = torch.load(data / latent_name, map_location="cpu", weights_only=True).get("latents")
        condition = torch.load(data / condition_name, map_location="cpu", weights_only=True).get("encoder_hidden_states")
        h = sample["header"]
        shape = (1, (h["frames"] - 1) // 4 + 1, 2 * h["latent_channels"], h["height"] // 8, h["width"] // 8)
        if latents is None or tuple(latents.shape) != shape:
            found.append(f"{stem}: latents {None if latents is None else list(latents.shape)}, expected {list(shape)}")
        elif not torch.equal(latents[0, :, : h["latent_channels"]], latent_tensors(sample["latent_path"])["latent_mean"].permute(1, 0, 2, 3)):
            found.append(f"{stem}: latents are not the cache's unscaled mean, frames first")
        if latents is not None and not latents.is_floating_point():
            found.append(f"{stem}: latents are {latents.dtype}, expected a floating-point tensor")
        if condition is None or condition.dim() != 3 or condition.shape[0] != 1 or not condition.is_floating_point():
            found.append(f"{stem}: encoder_hidden_states is not [1, length, hidden]")
    return found
