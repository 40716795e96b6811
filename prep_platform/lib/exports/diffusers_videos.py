"""diffusers `examples/cogvideo/train_cogvideox_image_to_video_lora.py`: it reads no latents, only a caption file
and a video file per line under `--instance_data_root`. Each training window is written as an mp4 of exactly F
frames at the target size and fps (so the script takes every frame): a lossy H.264 re-encode, said so in
export.json."""

from __future__ import annotations

import shlex
from pathlib import Path

import av

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import check_lists, file_identity, link_or_copy, window_frames, write_lists, write_mp4

NAME = "diffusers-videos"
NEEDS_EMBEDDINGS = False
NEEDS_IMAGES = False
LOSSY = True


def options(samples: list[ExportSample], request) -> dict:
    return {}


def launch(samples: list[ExportSample], folder: Path, options: dict) -> dict:
    h = samples[0].header
    return {
        "command": "accelerate launch examples/cogvideo/train_cogvideox_image_to_video_lora.py "
                   f"--pretrained_model_name_or_path <model_path> --instance_data_root {shlex.quote(str(folder))} "
                   f"--caption_column prompts.txt --video_column videos.txt --height {h['height']} --width {h['width']} "
                   f"--fps {h['fps']:g} --max_num_frames {h['frames']} --output_dir <output_dir>",
        "placeholders": {"<model_path>": "the CogVideoX I2V model", "<output_dir>": "a new folder for checkpoints, outside the export"},
        "notes": "run from a diffusers checkout; the videos are lossy re-encodes of the training windows",
    }


def write(samples: list[ExportSample], folder: Path, **_) -> dict[str, list[str]]:
    files, first_of = {}, {}
    for sample in samples:
        video = folder / "videos" / f"{sample.stem}.mp4"
        key = (sample.latent_path, sample.augmentation)
        if key in first_of:
            link_or_copy(folder / "videos" / f"{first_of[key]}.mp4", video)
        else:
            write_mp4(video, window_frames(sample.header, sample.augmentation), sample.header["fps"])
            first_of[key] = sample.stem
        files[sample.stem] = [f"videos/{sample.stem}.mp4"]
    write_lists(folder, samples)
    return files


def problems(folder: Path, export: dict) -> list[str]:
    """Every video decodes to exactly F frames of the latents' size (a file shared by several stems is read once)."""
    lines, found = check_lists(folder, export, ("prompts", "videos"))
    if found:
        return found
    checked: dict[tuple[int, int], str] = {}
    for line in lines["videos"]:
        stem = Path(line).stem
        h = export["stems"][stem]["header"]
        path = folder / line
        key = file_identity(path)
        if key not in checked:
            checked[key] = _video_problem(path, h)
        if checked[key]:
            found.append(f"{stem}: {checked[key]}")
    return found[:20]


def _video_problem(path: Path, h: dict) -> str:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = sum(1 for _ in container.decode(stream))
            size = (stream.codec_context.width, stream.codec_context.height)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        return f"{path} unreadable: {exc}"
    if count != h["frames"] or size != (h["width"], h["height"]):
        return f"{count} frames of {size[0]}x{size[1]}, expected {h['frames']} of {h['width']}x{h['height']}"
    return ""
