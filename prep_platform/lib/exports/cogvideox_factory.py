"""cogvideox-factory (`training/cogvideox/`, `--load_tensors`): `prompts.txt` and `videos.txt` (one line per
sample), and per stem `video_latents/<stem>.pt` [2C, T, h, w] (mean and logvar, unscaled: the trainer samples
and multiplies by the VAE's scaling factor), `image_latents/<stem>.pt` [2C, 1, h, w] (the clean first frame's mean
and logvar, as its own prepare_dataset.py stores `vae._encode(image)`) and `prompt_embeds/<stem>.pt`
[max_length, hidden]. The mp4 named in `videos.txt` need not exist."""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import (
    all_finite,
    check_lists,
    file_identity,
    latent_grid,
    link_or_copy,
    moments_from_file,
    same_values,
    save_tensor,
    without_zip_checksums,
    write_lists,
)
from prep_platform.lib.files.prompt_embedding_file import load_prompt_embedding

NAME = "cogvideox-factory"
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
NEEDS_EMBEDDINGS = True
NEEDS_IMAGES = False
LOSSY = False
KINDS = ("video_latents", "image_latents", "prompt_embeds")


def options(samples: list[ExportSample], request) -> dict:
    return {}


def launch(samples: list[ExportSample], folder: Path, options: dict) -> dict:
    h = samples[0].header
    return {
        "command": "accelerate launch training/cogvideox/cogvideox_image_to_video_lora.py "
                   "--pretrained_model_name_or_path <model_path> "
                   f"--data_root {shlex.quote(str(folder))} --caption_column prompts.txt --video_column videos.txt "
                   f"--load_tensors --frame_buckets {h['frames']} --height_buckets {h['height']} "
                   f"--width_buckets {h['width']} --output_dir <output_dir>",
        "placeholders": {"<model_path>": f"the CogVideoX I2V model (its VAE: {h['model_id']})",
                         "<output_dir>": "a new folder for checkpoints, outside the export"},
        "notes": "run from a cogvideox-factory checkout; the trainer samples the stored distributions and "
                 "multiplies by the VAE's scaling_factor itself",
    }


def convert_window(sample: ExportSample, folder: Path) -> None:
    """One window's video_latents and image_latents files (call inside `without_zip_checksums`)."""
    video, image = moments_from_file(sample.latent_path, sample.header)
    save_tensor(video, folder / "video_latents" / f"{sample.stem}.pt")
    save_tensor(image, folder / "image_latents" / f"{sample.stem}.pt")


def write(samples: list[ExportSample], folder: Path, *, threads: int = 2, **_) -> dict[str, list[str]]:
    """Each distinct window (clip x augmentation) and each distinct prompt is converted once, on `threads`
    threads; the other stems that share it are hard links."""
    first_of_window: dict[tuple[str, str], ExportSample] = {}
    first_of_prompt: dict[str, ExportSample] = {}
    for sample in samples:
        first_of_window.setdefault((sample.latent_path, sample.augmentation), sample)
        first_of_prompt.setdefault(sample.prompt_sha256, sample)

    def convert_prompt(sample: ExportSample) -> None:
        _, embedding = load_prompt_embedding(sample.prompt_embedding)
        save_tensor(embedding.contiguous(), folder / "prompt_embeds" / f"{sample.stem}.pt")

    with without_zip_checksums(), ThreadPoolExecutor(max(1, threads)) as pool:
        jobs = [pool.submit(convert_window, s, folder) for s in first_of_window.values()]
        jobs += [pool.submit(convert_prompt, s) for s in first_of_prompt.values()]
        for job in jobs:
            job.result()  # the first failure stops the export (it is never left looking complete)
    files: dict[str, list[str]] = {}
    for sample in samples:
        window = first_of_window[(sample.latent_path, sample.augmentation)].stem
        prompt = first_of_prompt[sample.prompt_sha256].stem
        for kind, source in (("video_latents", window), ("image_latents", window), ("prompt_embeds", prompt)):
            if source != sample.stem:
                link_or_copy(folder / kind / f"{source}.pt", folder / kind / f"{sample.stem}.pt")
        files[sample.stem] = [f"{kind}/{sample.stem}.pt" for kind in KINDS]
    write_lists(folder, samples)
    return files


def problems(folder: Path, export: dict) -> list[str]:
    """The export read back by cogvideox-factory's rules: line pairing, dot-free stems, shapes, dtypes, finite
    values, and the latents exactly the cache's unscaled moments (a file shared by several stems is read once)."""
    lines, found = check_lists(folder, export, ("prompts", "videos"))
    if found:
        return found
    checked: dict[tuple[int, int], list[str]] = {}
    for line in lines["videos"]:
        stem = Path(line).name.split(".")[0]  # what the trainer does with the name
        sample = export["stems"][stem]
        h = sample["header"]
        c, (t, hh, ww) = h["latent_channels"], latent_grid(h)
        expected = {"video_latents": (2 * c, t, hh, ww), "image_latents": (2 * c, 1, hh, ww)}
        for kind in KINDS:
            path = folder / kind / f"{stem}.pt"
            key = file_identity(path)
            if key not in checked:
                checked[key] = _tensor_problems(path, kind, expected.get(kind), sample, h)
            found += [f"{stem}: {p}" for p in checked[key]]
        if len(found) >= 20:
            break
    return found


def _tensor_problems(path: Path, kind: str, shape, sample: dict, header: dict) -> list[str]:
    try:
        tensor = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises several kinds for a damaged file
        return [f"{path}: unreadable: {type(exc).__name__}: {exc}"]
    if not isinstance(tensor, torch.Tensor):
        return [f"{path}: holds a {type(tensor).__name__}, not a tensor"]
    found = []
    if tensor.dtype not in FLOAT_DTYPES:  # the trainer casts to its weight dtype: any float will do
        found.append(f"{path.name}: {kind} is {tensor.dtype}, expected a floating-point tensor")
        return found
    if shape is not None and tuple(tensor.shape) != shape:
        return [f"{kind} has shape {list(tensor.shape)}, expected {list(shape)}"]
    if kind == "prompt_embeds" and tensor.dim() != 2:
        return [f"prompt_embeds has shape {list(tensor.shape)}, expected [length, hidden]"]
    if not all_finite(tensor):
        found.append(f"{path}: {kind} has non-finite values")
    if kind == "video_latents":
        frames_back = (tensor.shape[1] - 1) * 4 + 1  # the trainer's bucket arithmetic
        if frames_back != header["frames"] or tensor.shape[2] * 8 != header["height"]:
            found.append(f"the trainer would bucket it as {frames_back}x{tensor.shape[2] * 8}, "
                         f"not {header['frames']}x{header['height']}")
        try:
            video, _ = moments_from_file(sample["latent_path"], header)
        except (OSError, ValueError) as exc:
            return found + [str(exc)]
        if not same_values(tensor, video):
            found.append("video_latents is not the cache's unscaled mean and logvar (pre-scaled or from another file)")
    return found
