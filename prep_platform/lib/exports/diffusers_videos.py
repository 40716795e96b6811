"""diffusers `examples/cogvideo/train_cogvideox_image_to_video_lora.py`: it reads no latents, only a caption file
and a video file per line under `--instance_data_root`. Each training window is written as an mp4 of exactly F
frames at the target size and fps (so the script takes every frame): a lossy H.264 re-encode, said so in
export.json."""

from __future__ import annotations

from pathlib import Path

import av

from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.exports.files import link_or_copy, window_frames, write_lists, write_mp4

NAME = "diffusers-videos"
NEEDS_EMBEDDINGS = False
LOSSY = True


def launch_flags(samples: list[ExportSample]) -> str:
    h = samples[0].header if samples else {"frames": 49, "height": 480, "width": 720}
    return (f"--instance_data_root <export> --caption_column prompts.txt --video_column videos.txt "
            f"--height {h['height']} --width {h['width']} --max_num_frames {h['frames']}")


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
    found = []
    videos = [ln.strip() for ln in (folder / "videos.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    prompts = [ln.strip() for ln in (folder / "prompts.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(videos) != len(prompts):
        found.append(f"prompts.txt has {len(prompts)} lines, videos.txt {len(videos)}")
    for line in videos:
        stem = Path(line).stem
        sample = export["stems"].get(stem)
        if sample is None:
            found.append(f"videos.txt: {line!r} is not an exported stem")
            continue
        h = sample["header"]
        try:
            with av.open(str(folder / line)) as container:
                stream = container.streams.video[0]
                count = sum(1 for _ in container.decode(stream))
                size = (stream.codec_context.width, stream.codec_context.height)
        except (av.error.FFmpegError, OSError) as exc:
            found.append(f"{stem}: {line} unreadable: {exc}")
            continue
        if count != h["frames"] or size != (h["width"], h["height"]):
            found.append(f"{stem}: {count} frames of {size[0]}x{size[1]}, expected {h['frames']} of {h['width']}x{h['height']}")
    return found
