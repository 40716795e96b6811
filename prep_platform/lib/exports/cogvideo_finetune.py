"""THUDM/CogVideo `finetune/` (I2VDatasetWithResize), serving from its cache: `prompts.txt`, `videos.txt`,
`images.txt`; the files they name (`videos/<stem>.mp4`: the training window re-encoded, `images/<stem>.png`: the
conditioning image); `cache/video_latent/<model name>/<F>x<H>x<W>/<stem>.safetensors` with `encoded_video`
[C, T, h, w], ONE sample of the latent distribution already multiplied by the header's scaling factor, in the dtype
the user trains in (the trainer casts the prompt embedding to the cache's dtype); `cache/prompt_embeddings/<sha256
of the prompt line>.safetensors` with `prompt_embedding` [max_length, hidden]. The model name is one the trainer
registers (any other is refused at its start-up, and a cache under another name is silently not read)."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import torch
from safetensors.torch import load_file

from prep_platform.lib.exports.collect import ExportError, ExportSample
from prep_platform.lib.exports.files import (
    all_finite,
    check_lists,
    latent_grid,
    latent_tensors,
    link_or_copy,
    same_values,
    save_safetensors,
    window_frames,
    write_image,
    write_lists,
    write_mp4,
)

NAME = "cogvideo-finetune"
NEEDS_EMBEDDINGS = True
NEEDS_IMAGES = True
LOSSY = True  # videos/<stem>.mp4 is a re-encode (the trainer only checks that it exists while the cache serves)
# finetune/models/: the names it registers; an I2V export trains with an I2V one.
REGISTERED_I2V = ("cogvideox-i2v", "cogvideox1.5-i2v")
REGISTERED = (*REGISTERED_I2V, "cogvideox-t2v", "cogvideox1.5-t2v")
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MIXED_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}  # the trainer's --mixed_precision for each


def model_name_for(header: dict) -> str:
    """The registered name for the VAE the latents come from: CogVideoX 1.5 models train as cogvideox1.5-i2v, the
    others (CogVideoX-5b-I2V, 49x480x720) as cogvideox-i2v."""
    return "cogvideox1.5-i2v" if "1.5" in str(header.get("model_id") or "") else "cogvideox-i2v"


def options(samples: list[ExportSample], request) -> dict:
    h = samples[0].header if samples else {"frames": 49, "height": 480, "width": 720, "model_id": ""}
    name = request.trainer_model_name or model_name_for(h)
    if name not in REGISTERED_I2V:
        why = ("it trains text-to-video; this export is image-to-video" if name in REGISTERED
               else "the trainer refuses names it does not register")
        raise ExportError(f"--trainer-model-name {name!r}: CogVideo finetune takes {' or '.join(REGISTERED_I2V)} for "
                          f"image-to-video ({why})")
    return {"model_name": name, "resolution": f"{h['frames']}x{h['height']}x{h['width']}", "dtype": request.dtype,
            "mixed_precision": MIXED_PRECISION[request.dtype]}


def launch(samples: list[ExportSample], folder: Path, options: dict) -> dict:
    return {
        "command": "accelerate launch train.py --model_path <model_path> "
                   f"--model_name {options['model_name']} --model_type i2v --training_type lora "
                   f"--output_dir <output_dir> --report_to tensorboard --data_root {shlex.quote(str(folder))} "
                   "--caption_column prompts.txt --video_column videos.txt --image_column images.txt "
                   f"--train_resolution {options['resolution']} --mixed_precision {options['mixed_precision']}",
        "placeholders": {"<model_path>": f"the CogVideoX I2V model (its VAE: {samples[0].header['model_id']})",
                         "<output_dir>": "a new folder for checkpoints, outside the export"},
        "notes": f"run from CogVideo's finetune/ folder; the cache is {options['dtype']}: train with "
                 f"--mixed_precision {options['mixed_precision']} (export again with --dtype for another)",
    }


def sample_seed(stem: str) -> int:
    """The noise of a stem's one sample: fixed by its name, so a re-run writes the same bytes."""
    return int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def scaled_sample(tensors: dict[str, torch.Tensor], scaling_factor: float, stem: str, dtype: str) -> torch.Tensor:
    mean, logvar = tensors["latent_mean"].float(), tensors["latent_logvar"].float()
    noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(sample_seed(stem)))
    return ((mean + torch.exp(0.5 * logvar.clamp(-30.0, 20.0)) * noise) * scaling_factor).to(TORCH_DTYPES[dtype])


def cache_folder(folder: Path, options: dict) -> Path:
    return folder / "cache" / "video_latent" / options["model_name"] / options["resolution"]


def prompt_cache_file(folder: Path, prompt: str) -> Path:
    return folder / "cache" / "prompt_embeddings" / f"{hashlib.sha256(prompt.encode()).hexdigest()}.safetensors"


def write(samples: list[ExportSample], folder: Path, *, options: dict, **_) -> dict[str, list[str]]:
    cache = cache_folder(folder, options)
    files: dict[str, list[str]] = {}
    first_of: dict[tuple[str, str], str] = {}
    for sample in samples:
        video, image = folder / "videos" / f"{sample.stem}.mp4", folder / "images" / f"{sample.stem}.png"
        latent = cache / f"{sample.stem}.safetensors"
        key = (sample.latent_path, sample.augmentation)
        if key in first_of:  # the same window under another prompt: the same files
            link_or_copy(folder / "videos" / f"{first_of[key]}.mp4", video)
            link_or_copy(folder / "images" / f"{first_of[key]}.png", image)
        else:
            write_mp4(video, window_frames(sample.header, sample.augmentation), sample.header["fps"])
            write_image(image, sample.image_path, sample.augmentation)
            first_of[key] = sample.stem
        # Every stem its own sample (its own noise), scaled by the factor its header records.
        save_safetensors({"encoded_video": scaled_sample(latent_tensors(sample.latent_path), sample.header["scaling_factor"],
                                                         sample.stem, options["dtype"])}, latent)
        embedding = prompt_cache_file(folder, sample.prompt)
        if not embedding.exists():
            link_or_copy(Path(sample.prompt_embedding), embedding)  # our store is this cache's format
        files[sample.stem] = [str(p.relative_to(folder)) for p in (video, image, latent, embedding)]
    write_lists(folder, samples, images=True)
    return files


def problems(folder: Path, export: dict) -> list[str]:
    """Read back by the finetune dataset's rules: the three lists pair up, every file exists, the caches are where
    it looks for them (under a registered model name), with its keys, shapes and dtype, finite, the video latent
    scaled exactly once."""
    lines, found = check_lists(folder, export, ("prompts", "videos", "images"))
    if found:
        return found
    options = export["options"]
    if options["model_name"] not in REGISTERED_I2V:
        return [f"model name {options['model_name']!r} is not one CogVideo finetune registers for I2V"]
    for prompt, video in zip(lines["prompts"], lines["videos"]):
        stem = Path(video).stem
        sample = export["stems"][stem]
        latent_file = cache_folder(folder, options) / f"{stem}.safetensors"
        prompt_file = prompt_cache_file(folder, prompt)
        if not latent_file.is_file() or not prompt_file.is_file():
            found.append(f"{stem}: cache file missing ({latent_file.name if not latent_file.is_file() else prompt_file.name})")
            continue
        found += [f"{stem}: {p}" for p in _cache_problems(latent_file, prompt_file, sample, stem, options)]
        if len(found) >= 20:
            break
    return found


def _cache_problems(latent_file: Path, prompt_file: Path, sample: dict, stem: str, options: dict) -> list[str]:
    try:
        encoded = load_file(str(latent_file))["encoded_video"]
        embedding = load_file(str(prompt_file))["prompt_embedding"]
    except Exception as exc:  # safetensors raises its own error kinds for a damaged file
        return [f"unreadable cache file: {type(exc).__name__}: {exc}"]
    h = sample["header"]
    shape = (h["latent_channels"], *latent_grid(h))
    if tuple(encoded.shape) != shape:
        return [f"encoded_video has shape {list(encoded.shape)}, expected {list(shape)}"]
    found = []
    if encoded.dtype != TORCH_DTYPES[options["dtype"]]:
        found.append(f"encoded_video is {encoded.dtype}, the export promises {options['dtype']} (the trainer casts "
                     f"the prompt to it)")
    if not all_finite(encoded):
        found.append(f"{latent_file}: encoded_video has non-finite values")
    else:
        try:
            expected = scaled_sample(latent_tensors(sample["latent_path"]), h["scaling_factor"], stem, options["dtype"])
        except (OSError, ValueError) as exc:
            return found + [str(exc)]
        if not same_values(encoded, expected):
            found.append(f"encoded_video is not the cache's sample x scaling_factor {h['scaling_factor']}")
    if embedding.dim() != 2 or not embedding.is_floating_point() or not all_finite(embedding):
        found.append(f"{prompt_file.name}: prompt_embedding is not a finite [length, hidden] tensor")
    return found
