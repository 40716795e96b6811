"""Latent cache files: one `.npz` per clip (and per augmentation), written atomically, self-describing.

    latent_mean, latent_logvar   float16 [C, T, h, w]  the video's latent distribution, unscaled
    image_latents                float16 [C, 1, h, w]  the window's first frame encoded alone: clean, not
                                                       noise-augmented, the distribution's mode, unscaled
    image_logvar                 float16 [C, 1, h, w]  that encoding's log-variance (cogvideox-factory's own
                                                       preparation stores the image's moments, not only the mode)
    header                       JSON: model, revision, scaling_factor, invert_scale_latents, encode dtype, frames,
                                 fps, size, crop box, source and config fingerprints, package version, augmentation
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from prep_platform.lib.files.atomic import atomic_path

LATENT_FORMAT_VERSION = 2  # 2: the image latent's logvar is stored too (caches of version 1 are re-encoded once)
ARRAY_KEYS = ("latent_mean", "latent_logvar", "image_latents", "image_logvar")
IMAGE_KEYS = ("image_latents", "image_logvar")
AUGMENTATIONS = ("none", "hflip")


def config_fingerprint(frame_fingerprint: str, vae_fingerprint: str, augmentation: str, window: str = "") -> str:
    """What a cache was made with: frame geometry, VAE, augmentation and (from the frame stage) its window."""
    payload = f"{LATENT_FORMAT_VERSION}:{frame_fingerprint}:{vae_fingerprint}:{augmentation}"
    if window:
        payload += f":{window}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_latent_file(path: Path | str, arrays: dict[str, np.ndarray], header: dict) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("wb") as handle:  # a file handle: np.savez would otherwise append ".npz" to the temp name
            np.savez(handle, header=np.array(json.dumps(header, sort_keys=True)), **arrays)


def read_latent_header(path: Path | str) -> dict | None:
    """The header alone (cheap: one member of the zip); None when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["header"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def load_latent_file(path: Path | str) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and arrays (zip CRCs checked); a damaged or foreign file is a ValueError naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            return header, {key: data[key] for key in ARRAY_KEYS}
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ValueError(f"{path}: damaged latent file ({type(exc).__name__}: {exc})") from exc


def read_arrays_into(path: Path | str, targets: dict[str, np.ndarray]) -> None:
    """Read named arrays of a cache file straight into preallocated arrays (e.g. two halves of one tensor): no
    intermediate copy, which a conversion of many files pays for. Each member's zip CRC is checked over the bytes
    read (one zlib pass, far cheaper than numpy's reader), so a damaged file is refused, never converted. The npy
    header must match the target's dtype and shape; compressed members fall back to numpy's reader. A missing,
    damaged or mismatched file raises ValueError naming it."""
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            for key, target in targets.items():
                _read_member_into(path, handle, archive, key, target)
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ValueError(f"{path}: damaged latent file ({type(exc).__name__}: {exc})") from exc


def _read_member_into(path, handle, archive: zipfile.ZipFile, key: str, target: np.ndarray) -> None:
    info = archive.getinfo(f"{key}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        with archive.open(info) as member:  # zipfile checks the CRC of what it inflates
            target[...] = np.lib.format.read_array(member, allow_pickle=False)
        return
    handle.seek(info.header_offset)
    local = handle.read(30)  # the local file header: its name and extra lengths place the data
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    handle.seek(start)
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(handle)
    if tuple(shape) != target.shape or dtype != target.dtype or fortran or not target.flags.c_contiguous:
        raise ValueError(f"{path}: {key} is {dtype}{list(shape)}, expected {target.dtype}{list(target.shape)}")
    data_start = handle.tell()
    handle.seek(start)
    crc = zlib.crc32(handle.read(data_start - start))
    if handle.readinto(memoryview(target).cast("B")) != target.nbytes:
        raise ValueError(f"{path}: {key} is truncated")
    if zlib.crc32(memoryview(target).cast("B"), crc) != info.CRC:
        raise ValueError(f"{path}: {key} fails its zip checksum (the file is damaged): encode it again")


TEMPORAL_COMPRESSION, SPATIAL_COMPRESSION = 4, 8  # the CogVideoX VAE's, when a config or header does not say


def latent_shape(frames: int, height: int, width: int, channels: int, *, temporal: int | None = None,
                 spatial: int | None = None) -> tuple[int, int, int, int]:
    """[C, T, h, w] of a window's latents: time divided by the VAE's temporal compression keeping the first frame,
    space by its spatial compression (the ratios from its config or a cache header; CogVideoX's 4 and 8 when
    absent). The one place this arithmetic is written."""
    temporal, spatial = temporal or TEMPORAL_COMPRESSION, spatial or SPATIAL_COMPRESSION
    return (channels, (frames - 1) // temporal + 1, height // spatial, width // spatial)


def header_latent_shape(header: dict, channels: int = 0) -> tuple[int, int, int, int]:
    """latent_shape of a cache from what its header records (frames, size, the VAE's compression ratios)."""
    return latent_shape(header["frames"], header["height"], header["width"], channels,
                        temporal=header.get("temporal_compression_ratio"), spatial=header.get("spatial_compression_ratio"))


def latent_file_problems(
    path: Path | str, *, expect: dict, mean_abs_max: float = 50.0, std_min: float = 1e-4, std_max: float = 50.0
) -> list[str]:
    """Problems with one cache file against the expected header values and shapes; [] when it is sound.

    `expect` holds header keys to compare (frames, fps, width, height, config_fingerprint, ...) and `shape`.
    The value bounds catch all-zero and garbage latents.
    """
    path = Path(path)
    try:
        header, arrays = load_latent_file(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        return [f"{path}: unreadable: {exc}"]
    problems = []
    for key, value in expect.items():
        if key == "shape":
            continue
        if header.get(key) != value:
            problems.append(f"{path}: header {key} is {header.get(key)!r}, expected {value!r}")
    shape = tuple(expect["shape"]) if "shape" in expect else None
    for key in ARRAY_KEYS:
        array = arrays[key]
        if array.dtype != np.float16:
            problems.append(f"{path}: {key} is {array.dtype}, expected float16")
        want = shape if key not in IMAGE_KEYS or shape is None else (shape[0], 1, shape[2], shape[3])
        if want is not None and tuple(array.shape) != want:
            problems.append(f"{path}: {key} has shape {list(array.shape)}, expected {list(want)}")
        if not np.isfinite(array).all():
            problems.append(f"{path}: {key} has non-finite values")
    mean = arrays["latent_mean"].astype(np.float32)
    if np.isfinite(mean).all():
        if float(mean.std()) < std_min:
            problems.append(f"{path}: latent_mean std {float(mean.std()):.2e} < {std_min} (all-constant latents)")
        if float(mean.std()) > std_max or float(np.abs(mean).mean()) > mean_abs_max:
            problems.append(f"{path}: latent_mean out of bounds (std {float(mean.std()):.3g}, mean |x| {float(np.abs(mean).mean()):.3g})")
    return problems


def latent_values_problem(arrays: dict[str, np.ndarray], *, std_min: float = 1e-4) -> str:
    """Why freshly encoded latents must not be written ("" when they are fine)."""
    for key in ARRAY_KEYS:
        if not np.isfinite(arrays[key]).all():
            return f"the encoder produced non-finite values in {key}"
    std = float(arrays["latent_mean"].astype(np.float32).std())
    if std < std_min:
        return f"the encoder produced constant latents (std {std:.2e})"
    return ""
