"""What the format writers share: latent arrays as torch tensors, the window as an mp4, links for files that
several stems share (the same clip under each prompt variant)."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from prep_platform.lib.files.latent_file import load_latent_file, read_arrays_into
from prep_platform.lib.video.window import FrameConfig, read_window

# cogvideox-factory's image latents are a distribution like the video's; we store the clean mode only, so the
# log-variance is the library's clamp floor: sampling it returns the mean.
IMAGE_LOGVAR_FLOOR = -30.0


def latent_tensors(latent_path: str | Path) -> dict[str, torch.Tensor]:
    """The cache file's arrays as tensors of their own storage (torch.save writes a view's whole storage)."""
    _, arrays = load_latent_file(latent_path)
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()}


def moments_from_file(latent_path: str | Path, header: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """([2C, T, h, w] video moments, [2C, 1, h, w] image moments) read straight from the cache file into their
    halves: the conversion costs about what reading the file does."""
    c, t, h, w = header["latent_channels"], (header["frames"] - 1) // 4 + 1, header["height"] // 8, header["width"] // 8
    video = torch.empty((2 * c, t, h, w), dtype=torch.float16)
    image = torch.full((2 * c, 1, h, w), IMAGE_LOGVAR_FLOOR, dtype=torch.float16)
    pixels, still = video.numpy(), image.numpy()
    read_arrays_into(latent_path, {"latent_mean": pixels[:c], "latent_logvar": pixels[c:], "image_latents": still[:c]})
    return video, image


@contextmanager
def without_zip_checksums():
    """torch.save without its zip CRC pass (PyTorch's own `compute_crc32` switch; its loader does not check the
    field), which would otherwise cost more than the whole conversion. Set for the duration of an export."""
    from torch.utils.serialization import config

    before = config.save.compute_crc32
    config.save.compute_crc32 = False
    try:
        yield
    finally:
        config.save.compute_crc32 = before


def save_tensor(value, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(value, path)


def moments(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """[2C, T, h, w]: mean and log-variance on the channel axis, unscaled (what the VAE's `_encode` returns)."""
    return torch.cat([tensors["latent_mean"], tensors["latent_logvar"]], dim=0)


def write_lists(folder: Path, samples, *, images: bool = False) -> None:
    """`prompts.txt` and `videos.txt` (and `images.txt`), one line per sample in the same order: the pairing every
    trainer reads (it drops blank lines and strips each one; exported prompts are single lines already)."""
    (folder / "prompts.txt").write_text("".join(f"{s.prompt}\n" for s in samples), encoding="utf-8")
    (folder / "videos.txt").write_text("".join(f"videos/{s.stem}.mp4\n" for s in samples), encoding="utf-8")
    if images:
        (folder / "images.txt").write_text("".join(f"images/{s.stem}.png\n" for s in samples), encoding="utf-8")


def link_or_copy(source: Path, target: Path) -> None:
    """A second stem of the same file costs no space (hard link); across file systems, a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def window_frames(sample_header: dict, augmentation: str) -> np.ndarray:
    """The exact training window the latents were encoded from, decoded again from the source clip."""
    header = sample_header
    config = FrameConfig(fps=header["fps"], width=header["width"], height=header["height"], frames=header["frames"],
                         window_start_s=header["window_start_s"] or 0.0, pad_short=True)
    result = read_window(header["source_path"], config, want_frames=True, count_all=False)
    if result.frames is None:
        raise OSError(f"{header['source_path']}: the window cannot be read again: {result.status}: {result.reason}")
    frames = result.frames
    return np.ascontiguousarray(frames[:, :, ::-1]) if augmentation == "hflip" else frames


def write_mp4(path: Path, frames: np.ndarray, fps: float, *, crf: int = 18) -> None:
    """H.264 (yuv420p, CRF 18): a lossy re-encode of the window, said so in the export's report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_image(path: Path, image_path: str, augmentation: str) -> None:
    """The conditioning PNG (mirrored for the flipped variant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if augmentation == "hflip":
        image = cv2.imread(image_path)
        if image is None:
            raise OSError(f"{image_path}: conditioning image missing or unreadable")
        cv2.imwrite(str(path), np.ascontiguousarray(image[:, ::-1]))
    else:
        shutil.copyfile(image_path, path)
