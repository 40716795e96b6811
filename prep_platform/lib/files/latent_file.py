"""Latent cache files: one `.npz` per clip (and per augmentation), written atomically, self-describing.

    latent_mean, latent_logvar   float16 [C, T, h, w]  the video's latent distribution, unscaled
    image_latents                float16 [C, 1, h, w]  the window's first frame encoded alone: clean, not
                                                       noise-augmented, the distribution's mode, unscaled
    image_logvar                 float16 [C, 1, h, w]  that encoding's log-variance (cogvideox-factory's own
                                                       preparation stores the image's moments, not only the mode)
    header                       JSON (LatentHeader): model, revision, scaling_factor, invert_scale_latents, encode
                                 dtype, frames, fps, size, crop box, window, source and config fingerprints, package
                                 version, augmentation
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import atomic_path
from prep_platform.lib.files.row_table import JsonHeader
from prep_platform.lib.sample import WINDOW_FACTS, EncodedWith, SourceFile, Window  # noqa: F401 (WINDOW_FACTS re-exported)

LATENT_FORMAT_VERSION = 2  # 2: the image latent's logvar is stored too (caches of version 1 are re-encoded once)
ARRAY_KEYS = ("latent_mean", "latent_logvar", "image_latents", "image_logvar")
IMAGE_KEYS = ("image_latents", "image_logvar")
AUGMENTATIONS = ("none", "hflip")


def config_fingerprint(frame_fingerprint: str, vae_fingerprint: str, augmentation: str, window: str = "") -> str:
    """What a cache was made with: frame geometry, VAE, augmentation and (from the frame stage) its window: the
    settings of its derivation. (The format version is in the payload too, as it was before lib.currency compared
    it on its own: the caches already made stay current.)"""
    payload = f"{LATENT_FORMAT_VERSION}:{frame_fingerprint}:{vae_fingerprint}:{augmentation}"
    if window:
        payload += f":{window}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def latent_derivation(source_fingerprint: str | None, config_fingerprint: str | None,
                      format_version: int | None = LATENT_FORMAT_VERSION) -> Derivation:
    """A cache's derivation (lib.currency): made from the source clip's bytes, with the configuration (frame
    geometry, VAE, augmentation, window), in the latent format. The current version's unless `format_version` says
    which one a header or manifest row recorded."""
    return Derivation({"source": source_fingerprint}, config_fingerprint, format_version)


# The frame stage's facts about a window that a cache header repeats (what the window is, in its clip) are
# declared once, by lib.sample.Window (WINDOW_FACTS: their names).


@dataclass(frozen=True)
class LatentHeader(JsonHeader):
    """What a cache file was made of and with; on disk one flat JSON object whose keys are these fields (lib.files.
    json_header). Built once by `build`, checked by `is_current`; its latent shape is header_latent_shape's."""

    # the sample
    video_id: str | None = None
    sample_id: str | None = None
    augmentation: str = "none"
    source_path: str | None = None
    source_fingerprint: str | None = None
    source_fps: float | None = None
    # the window's geometry, from the frame stage (the model profile decides its rules)
    profile: str | None = None
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    crop_box: list | None = None
    padded_frames: int = 0
    window_index: int | None = None
    window_start_s: float | None = None
    window_end_s: float | None = None
    shot_index: int | None = None
    shot: list | None = None
    clean_window: bool | None = None
    cuts_in_window: list | None = None  # the cut times inside the window, as the frame row holds them
    shot_detection: dict | None = None
    # the encoder (its identity: lib.models.vae.VaeEncoder.identity) and how it ran
    model_id: str | None = None
    revision: str | None = None
    subfolder: str | None = None
    dtype: str | None = None
    scaling_factor: float | None = None
    invert_scale_latents: bool | None = None
    normalisation: str | None = None
    vae_class: str | None = None
    vae_config_sha256: str | None = None
    latent_channels: int | None = None
    temporal_compression_ratio: int | None = None
    spatial_compression_ratio: int | None = None
    encode_dtype: str | None = None
    stored_dtype: str = "float16"
    device: str | None = None
    tiling: bool | None = None
    slicing: bool | None = None
    batch_size: int | None = None
    batch_choice: str | None = None
    compiled: bool | None = None
    # what decides whether the cache is current
    frame_config_fingerprint: str | None = None
    vae_fingerprint: str | None = None
    config_fingerprint: str | None = None
    # the format
    format_version: int = LATENT_FORMAT_VERSION
    kind: str = "latent_distribution (mean, logvar), unscaled"
    image_latents: dict = field(default_factory=lambda: {
        "kind": "mode of the first frame encoded alone (image_logvar: its log-variance)",
        "noise_augmented": False, "scaled": False})
    package_version: str | None = None
    created_at: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, *, video_id: str, sample_id: str, augmentation: str, source: SourceFile, frame_config,
              decoded: Mapping, window: Window | None, encoded_with: EncodedWith, frame_fingerprint: str,
              vae_fingerprint: str, config_fingerprint: str) -> LatentHeader:
        """The header of a fresh encoding, from typed values (the file stays one flat JSON object). `frame_config`:
        the stage's FrameConfig; `decoded`: the window reader's facts (crop box, start and end, padding, source
        fps); `window`: the sample's Window as the frame stage chose it (None: the configured window);
        `encoded_with`: the encoder's identity and how it ran (`vae_fingerprint`: the identity's, once a run)."""
        from prep_platform import __version__

        identity, run = dict(encoded_with.identity), encoded_with
        window_facts = {"window_start_s": decoded.get("window_start_s"), "window_end_s": decoded.get("window_end_s"),
                        **(window.facts() if window else {})}  # the frame stage's word last
        return cls(
            video_id=video_id, sample_id=sample_id, augmentation=augmentation, source_path=source.path,
            source_fingerprint=source.fingerprint, source_fps=decoded.get("source_fps"),
            frames=frame_config.frames, fps=frame_config.fps, width=frame_config.width, height=frame_config.height,
            crop_box=decoded.get("crop_box"), padded_frames=decoded.get("padded_frames", 0), **window_facts,
            **identity, encode_dtype=identity["dtype"], device=run.device, tiling=run.tiling, slicing=run.slicing,
            batch_size=run.batch_size, batch_choice=run.batch_choice, compiled=run.compiled,
            frame_config_fingerprint=frame_fingerprint,
            vae_fingerprint=vae_fingerprint, config_fingerprint=config_fingerprint,
            package_version=__version__, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )

    def facts(self, keys: tuple[str, ...]) -> dict:
        """The named fields (an export sample keeps those its formats read)."""
        return {key: getattr(self, key) for key in keys}

    def derivation(self) -> Derivation:
        """What this cache records it was made from, with and in (lib.currency)."""
        return latent_derivation(self.source_fingerprint, self.config_fingerprint, self.format_version)

    def is_current(self, source_fingerprint: str, config_fingerprint: str) -> bool:
        """Made from these source bytes with this configuration (frame geometry, VAE, augmentation, window), in this
        format: lib.currency's rule."""
        return is_current(self.derivation(), latent_derivation(source_fingerprint, config_fingerprint))


def write_latent_file(path: Path | str, arrays: dict[str, np.ndarray], header: LatentHeader) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("wb") as handle:  # a file handle: np.savez would otherwise append ".npz" to the temp name
            np.savez(handle, header=np.array(json.dumps(header.to_json(), sort_keys=True)), **arrays)


def read_latent_header(path: Path | str) -> LatentHeader | None:
    """The header alone (cheap: one member of the zip); None when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return LatentHeader.from_json(json.loads(str(data["header"])))
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError):
        return None


def recorded_derivation(path: Path | str) -> Derivation | None:
    """The derivation the cache at `path` records in its header; None when it is missing or unreadable."""
    header = read_latent_header(path)
    return header.derivation() if header is not None else None


def is_current_file(path: Path | str, source_fingerprint: str, config_fingerprint: str) -> bool:
    """A readable cache at `path` made from these source bytes with this configuration, in this format."""
    return is_current(recorded_derivation(path), latent_derivation(source_fingerprint, config_fingerprint))


def load_latent_file(path: Path | str) -> tuple[LatentHeader, dict[str, np.ndarray]]:
    """Header and arrays (zip CRCs checked); a damaged or foreign file is a ValueError naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = LatentHeader.from_json(json.loads(str(data["header"])))
            return header, {key: data[key] for key in ARRAY_KEYS}
    except (zipfile.BadZipFile, KeyError, EOFError, ValueError, TypeError) as exc:
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


def header_latent_shape(header: Mapping, channels: int = 0) -> tuple[int, int, int, int]:
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
    recorded = header.to_json()
    for key, value in expect.items():
        if key == "shape":
            continue
        if recorded.get(key) != value:
            problems.append(f"{path}: header {key} is {recorded.get(key)!r}, expected {value!r}")
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
