"""cogvideox-factory (`training/cogvideox/`, `--load_tensors`): `prompts.txt` and `videos.txt` (one line per
sample), and per stem `video_latents/<stem>.pt` [2C, T, h, w] (mean and logvar, unscaled: the trainer samples
and multiplies by the VAE's scaling factor), `image_latents/<stem>.pt` [2C, 1, h, w] (the clean first frame,
logvar at the floor) and `prompt_embeds/<stem>.pt` [max_length, hidden]. The mp4 named in `videos.txt` need not
exist."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import (
    latent_tensors,
    link_or_copy,
    moments_from_file,
    save_tensor,
    write_lists,
    without_zip_checksums,
)
from prep_platform.lib.files.prompt_embedding_file import load_prompt_embedding

NAME = "cogvideox-factory"
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
NEEDS_EMBEDDINGS = True
LOSSY = False


def launch_flags(samples: list[ExportSample]) -> str:
    h = samples[0].header if samples else {"frames": 49, "height": 480, "width": 720}
    return (f"--data_root <export> --caption_column prompts.txt --video_column videos.txt --load_tensors "
            f"--frame_buckets {h['frames']} --height_buckets {h['height']} --width_buckets {h['width']}")


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
        files[sample.stem] = [f"{kind}/{sample.stem}.pt" for kind in ("video_latents", "image_latents", "prompt_embeds")]
    write_lists(folder, samples)
    return files


def problems(folder: Path, export: dict) -> list[str]:
    """The export read back by cogvideox-factory's rules: line pairing, dot-free stems, shapes, dtypes, unscaled."""
    found = []
    prompts = [line.strip() for line in (folder / "prompts.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    videos = [line.strip() for line in (folder / "videos.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(prompts) != len(videos):
        found.append(f"prompts.txt has {len(prompts)} lines, videos.txt {len(videos)}")
    for line, prompt in zip(videos, prompts):
        stem = Path(line).name.split(".")[0]  # what the trainer does with the name
        sample = export["stems"].get(stem)
        if sample is None or Path(line).name != f"{stem}.mp4":
            found.append(f"videos.txt: {line!r} does not name an exported stem (a dot in the stem?)")
            continue
        if prompt != sample["prompt"]:
            found.append(f"{stem}: prompts.txt line differs from the exported prompt")
        h = sample["header"]
        c, t, hh, ww = h["latent_channels"], (h["frames"] - 1) // 4 + 1, h["height"] // 8, h["width"] // 8
        tensors = {kind: torch.load(folder / kind / f"{stem}.pt", map_location="cpu", weights_only=True)
                   for kind in ("video_latents", "image_latents", "prompt_embeds")}
        expected = {"video_latents": (2 * c, t, hh, ww), "image_latents": (2 * c, 1, hh, ww)}
        for kind, shape in expected.items():
            if tuple(tensors[kind].shape) != shape:
                found.append(f"{stem}: {kind} has shape {list(tensors[kind].shape)}, expected {list(shape)}")
        for kind, tensor in tensors.items():
            if tensor.dtype not in FLOAT_DTYPES:  # the trainer casts to its weight dtype: any float will do
                found.append(f"{stem}: {kind} is {tensor.dtype}, expected a floating-point tensor")
        if tensors["prompt_embeds"].dim() != 2:
            found.append(f"{stem}: prompt_embeds has shape {list(tensors['prompt_embeds'].shape)}, expected [length, hidden]")
        frames_back = (tensors["video_latents"].shape[1] - 1) * 4 + 1  # the trainer's bucket arithmetic
        if frames_back != h["frames"] or tensors["video_latents"].shape[2] * 8 != h["height"]:
            found.append(f"{stem}: the trainer would bucket it as {frames_back}x{tensors['video_latents'].shape[2] * 8}, "
                         f"not {h['frames']}x{h['height']}")
        mean = latent_tensors(sample["latent_path"])["latent_mean"]
        if tuple(tensors["video_latents"].shape) == expected["video_latents"] and not torch.equal(tensors["video_latents"][:c], mean):
            found.append(f"{stem}: video_latents is not the cache's unscaled mean (pre-scaled or from another file)")
    return found
