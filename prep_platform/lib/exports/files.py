"""What the format writers share: latent arrays as torch tensors, the window as an mp4, links for files that
several stems share (the same clip under each prompt variant), and plain writes whose failures name the file (a
full disk is exit 3 for every format)."""

from __future__ import annotations

import errno
import io
import os
import shutil
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from prep_platform.lib.files.atomic import named_write_errors, read_text_file
from prep_platform.lib.files.latent_file import header_latent_shape, load_latent_file, read_arrays_into
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import read_window


def latent_tensors(latent_path: str | Path) -> dict[str, torch.Tensor]:
    """The cache file's arrays as tensors of their own storage (torch.save writes a view's whole storage)."""
    _, arrays = load_latent_file(latent_path)
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()}


def moments_from_file(latent_path: str | Path, header: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """([2C, T, h, w] video moments, [2C, 1, h, w] image moments) read straight from the cache file into their
    halves (mean, then logvar on the channel axis: what the VAE's `_encode` returns and cogvideox-factory's own
    preparation saves for both): the conversion costs about what reading the file does."""
    c, (t, h, w) = header["latent_channels"], latent_grid(header)
    video = torch.empty((2 * c, t, h, w), dtype=torch.float16)
    image = torch.empty((2 * c, 1, h, w), dtype=torch.float16)
    pixels, still = video.numpy(), image.numpy()
    read_arrays_into(latent_path, {"latent_mean": pixels[:c], "latent_logvar": pixels[c:],
                                   "image_latents": still[:c], "image_logvar": still[c:]})
    return video, image


# Exponent bits of each float format: a value is inf or NaN exactly when they are all set.
_EXPONENT_MASKS = {torch.float16: (np.uint16, 0x7C00), torch.bfloat16: (np.uint16, 0x7F80),
                   torch.float32: (np.uint32, 0x7F800000)}


def _bits(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's raw bits as unsigned integers (numpy knows no bfloat16; its bit tests are far faster than
    torch's on these CPUs)."""
    kind, _ = _EXPONENT_MASKS[tensor.dtype]
    signed = {np.uint16: torch.int16, np.uint32: torch.int32}[kind]
    return tensor.detach().contiguous().view(signed).numpy().view(kind)


def all_finite(tensor: torch.Tensor) -> bool:
    """No inf or NaN anywhere (a float16, bfloat16 or float32 tensor)."""
    if tensor.dtype not in _EXPONENT_MASKS:
        return bool(torch.isfinite(tensor).all())
    _, mask = _EXPONENT_MASKS[tensor.dtype]
    return not bool(((_bits(tensor) & mask) == mask).any())


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit the same tensor (shape, dtype, every value): what a conversion that copies bytes must give."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype not in _EXPONENT_MASKS:
        return torch.equal(a, b)
    return bool(np.array_equal(_bits(a), _bits(b)))


def latent_grid(header: dict) -> tuple[int, int, int]:
    """(T, h, w) of a cache's latents, from the compression its header records (the CogVideoX VAE's 4 in time,
    keeping the first frame, and 8 in space when an older header does not say)."""
    return header_latent_shape(header)[1:]


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
    """torch.save through memory, then one plain write: a full disk is an OSError naming the file (torch's own
    writer turns it into a RuntimeError without an errno)."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    write_file(path, buffer.getbuffer())


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    write_file(path, safetensors_bytes(tensors))


def write_file(path: Path, data) -> None:
    """Write bytes into a fresh export folder (no temp file: the whole folder is published atomically); a failed
    write is a WriteError naming the file, with its errno (ENOSPC: exit 3)."""
    with named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)


def moments(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """[2C, T, h, w]: mean and log-variance on the channel axis, unscaled (what the VAE's `_encode` returns)."""
    return torch.cat([tensors["latent_mean"], tensors["latent_logvar"]], dim=0)


def write_lists(folder: Path, samples, *, images: bool = False) -> None:
    """`prompts.txt` and `videos.txt` (and `images.txt`), one line per sample in the export's order: the pairing
    every trainer reads (it drops blank lines and strips each one; exported prompts are single non-blank lines,
    see collect.prompt_text)."""
    write_file(folder / "prompts.txt", "".join(f"{s.prompt}\n" for s in samples).encode("utf-8"))
    write_file(folder / "videos.txt", "".join(f"videos/{s.stem}.mp4\n" for s in samples).encode("utf-8"))
    if images:
        write_file(folder / "images.txt", "".join(f"images/{s.stem}.png\n" for s in samples).encode("utf-8"))


def read_lines(path: Path) -> list[str]:
    """A text list as the trainers read it: stripped non-blank lines. Every line break Python's `splitlines`
    knows counts (finetrainers splits on U+2028 too), and a file that cannot be read says which."""
    try:
        text = read_text_file(path)  # not UTF-8: a ValueError naming the file
    except OSError as exc:
        raise ValueError(f"{path}: unreadable text list: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_lists(folder: Path, export: dict, names: tuple[str, ...]) -> tuple[dict[str, list[str]], list[str]]:
    """The text lists (prompts.txt, videos.txt, ...) as the trainers read them, and what is wrong with their pairing:
    every list as long as the stems, line k of each about the same stem, in the order export.json lists them."""
    lines = {name: read_lines(folder / f"{name}.txt") for name in names}
    found = []
    order = list(export["stems"])
    for name, values in lines.items():
        if len(values) != len(order):
            found.append(f"{name}.txt has {len(values)} lines, the export has {len(order)} stems")
    if found:
        return lines, found
    for k, stem in enumerate(order):
        sample = export["stems"][stem]
        if "prompts" in lines and lines["prompts"][k] != sample["prompt"]:
            found.append(f"prompts.txt line {k + 1} is not {stem}'s prompt")
        for name, suffix in (("videos", ".mp4"), ("images", ".png")):
            if name in lines and lines[name][k] != f"{name}/{stem}{suffix}":
                found.append(f"{name}.txt line {k + 1} is {lines[name][k]!r}: it does not name {name}/{stem}{suffix} "
                             f"(a trainer cuts a stem at its first dot)")
    return lines, found[:20]


def file_identity(path: Path) -> tuple[int, int]:
    """(device, inode): the stems that share one file through hard links are read back once."""
    info = path.stat()
    return info.st_dev, info.st_ino


def link_or_copy(source: Path, target: Path) -> None:
    """A second stem of the same file costs no space (hard link); across file systems, a copy."""
    with named_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
                raise
            shutil.copyfile(source, target)


def window_frames(sample_header: dict, augmentation: str) -> np.ndarray:
    """The exact training window the latents were encoded from, decoded again from the source clip."""
    header = sample_header
    config = FrameConfig(fps=header["fps"], width=header["width"], height=header["height"], frames=header["frames"],
                         window_start_s=header["window_start_s"] or 0.0, pad_short=True)
    result = read_window(header["source_path"], config, want_frames=True, count_all=False)
    if result.frames is None:
        raise ValueError(f"{header['source_path']}: the window cannot be read again: {result.status}: {result.reason}")
    frames = result.frames
    return np.ascontiguousarray(frames[:, :, ::-1]) if augmentation == "hflip" else frames


def write_mp4(path: Path, frames: np.ndarray, fps: float, *, crf: int = 18) -> None:
    """H.264 (yuv420p, CRF 18): a lossy re-encode of the window, said so in the export's report."""
    with named_write_errors(path):  # PyAV's errors for a full disk are OSErrors with their errno
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
    if augmentation != "hflip":
        if not Path(image_path).is_file():
            raise ValueError(f"{image_path}: conditioning image missing")
        with named_write_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image_path, path)
        return
    image = cv2.imread(image_path)
    if image is None:
        raise ValueError(f"{image_path}: conditioning image missing or unreadable")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image[:, ::-1]))
    if not ok:
        raise ValueError(f"{image_path}: the mirrored image could not be encoded")
    write_file(path, encoded.tobytes())


def png_size(path: Path | str) -> tuple[int, int] | None:
    """(width, height) from a PNG's header (24 bytes, no decode); None when it is not a readable PNG."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
