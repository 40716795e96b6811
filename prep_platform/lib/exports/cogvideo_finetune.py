"""THUDM/CogVideo `finetune/` (I2VDatasetWithResize), serving from its cache: `prompts.txt`, `videos.txt`,
`images.txt`; the files they name (`videos/<stem>.mp4`: the training window re-encoded, `images/<stem>.png`: the
conditioning image); `cache/video_latent/<model name>/<F>x<H>x<W>/<stem>.safetensors` with `encoded_video`
[C, T, h, w], ONE sample of the latent distribution already multiplied by the header's scaling factor (the trainer
uses the cache as it is); `cache/prompt_embeddings/<sha256 of the prompt line>.safetensors` with
`prompt_embedding` [max_length, hidden]."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import latent_tensors, link_or_copy, window_frames, write_image, write_lists, write_mp4

NAME = "cogvideo-finetune"
NEEDS_EMBEDDINGS = True
LOSSY = True  # videos/<stem>.mp4 is a re-encode (the trainer only checks that it exists while the cache serves)


def model_name(samples: list[ExportSample]) -> str:
    """The trainer's --model_name, e.g. cogvideox-5b-i2v for THUDM/CogVideoX-5b-I2V."""
    model_id = samples[0].header["model_id"] if samples else "THUDM/CogVideoX-5b-I2V"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in model_id.rstrip("/").split("/")[-1].lower())


def resolution(samples: list[ExportSample]) -> str:
    h = samples[0].header if samples else {"frames": 49, "height": 480, "width": 720}
    return f"{h['frames']}x{h['height']}x{h['width']}"


def launch_flags(samples: list[ExportSample]) -> str:
    return (f"--data_root <export> --caption_column prompts.txt --video_column videos.txt --image_column images.txt "
            f"--model_name {model_name(samples)} --model_type i2v --train_resolution {resolution(samples)}")


def sample_seed(stem: str) -> int:
    """The noise of a stem's one sample: fixed by its name, so a re-run writes the same bytes."""
    return int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def scaled_sample(tensors: dict[str, torch.Tensor], scaling_factor: float, stem: str) -> torch.Tensor:
    mean, logvar = tensors["latent_mean"].float(), tensors["latent_logvar"].float()
    noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(sample_seed(stem)))
    return ((mean + torch.exp(0.5 * logvar.clamp(-30.0, 20.0)) * noise) * scaling_factor).to(torch.float16)


def write(samples: list[ExportSample], folder: Path, **_) -> dict[str, list[str]]:
    cache = folder / "cache" / "video_latent" / model_name(samples) / resolution(samples)
    prompts_cache = folder / "cache" / "prompt_embeddings"
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
        latent.parent.mkdir(parents=True, exist_ok=True)
        save_file({"encoded_video": scaled_sample(latent_tensors(sample.latent_path), sample.header["scaling_factor"],
                                                  sample.stem)}, str(latent))
        embedding = prompts_cache / f"{hashlib.sha256(sample.prompt.encode()).hexdigest()}.safetensors"
        if not embedding.exists():
            link_or_copy(Path(sample.prompt_embedding), embedding)  # our store is this cache's format
        files[sample.stem] = [str(p.relative_to(folder)) for p in (video, image, latent, embedding)]
    write_lists(folder, samples, images=True)
    return files


def problems(folder: Path, export: dict) -> list[str]:
    """Read back by the finetune dataset's rules: the three lists pair up, every file exists, the caches are where
    it looks for them, with its keys and shapes, the video latent scaled exactly once."""
    found = []
    lines = {name: [ln.strip() for ln in (folder / f"{name}.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
             for name in ("prompts", "videos", "images")}
    if len({len(v) for v in lines.values()}) != 1:
        found.append(f"prompts/videos/images.txt differ in length: {[len(v) for v in lines.values()]}")
    model, res = export["options"]["model_name"], export["options"]["resolution"]
    for prompt, video, image in zip(lines["prompts"], lines["videos"], lines["images"]):
        stem = Path(video).stem
        sample = export["stems"].get(stem)
        if sample is None:
            found.append(f"videos.txt: {video!r} is not an exported stem")
            continue
        for name in (video, image):
            if not (folder / name).is_file():
                found.append(f"{stem}: {name} is missing")
        latent_file = folder / "cache" / "video_latent" / model / res / f"{stem}.safetensors"
        prompt_file = folder / "cache" / "prompt_embeddings" / f"{hashlib.sha256(prompt.encode()).hexdigest()}.safetensors"
        if not latent_file.is_file() or not prompt_file.is_file():
            found.append(f"{stem}: cache file missing ({latent_file.name if not latent_file.is_file() else prompt_file.name})")
            continue
        encoded = load_file(str(latent_file))["encoded_video"]
        h = sample["header"]
        shape = (h["latent_channels"], (h["frames"] - 1) // 4 + 1, h["height"] // 8, h["width"] // 8)
        if tuple(encoded.shape) != shape:
            found.append(f"{stem}: encoded_video has shape {list(encoded.shape)}, expected {list(shape)}")
            continue
        if encoded.dtype not in (torch.float16, torch.bfloat16, torch.float32):
            found.append(f"{stem}: encoded_video is {encoded.dtype}, expected a floating-point tensor")
        expected = scaled_sample(latent_tensors(sample["latent_path"]), h["scaling_factor"], stem)
        if not torch.equal(encoded, expected):
            found.append(f"{stem}: encoded_video is not the cache's sample x scaling_factor {h['scaling_factor']}")
        if load_file(str(prompt_file))["prompt_embedding"].dim() != 2:
            found.append(f"{stem}: prompt_embedding is not [length, hidden]")
    return found
