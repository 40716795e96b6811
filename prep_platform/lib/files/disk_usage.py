"""Disk use: measured sizes per data layer, and the space the next materialisation will need."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prep_platform.lib.files.latent_file import latent_shape
from prep_platform.lib.layout import DataLayout

HEADER_AND_ZIP_OVERHEAD = 12 * 1024  # the header names the profile, the VAE config hash, the window


def directory_bytes(path: Path | str) -> int:
    total = 0
    stack = [Path(path)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def layer_bytes(layers: dict[str, tuple[Path, ...]]) -> dict[str, int]:
    """Measured bytes per data layer, from the layout's folders of each (`DataLayout.layers()`)."""
    return {layer: sum(directory_bytes(folder) for folder in folders) for layer, folders in layers.items()}


def latent_file_bytes(frames: int, height: int, width: int, channels: int) -> int:
    """One cache file: mean + logvar [C, T, h, w] and image latents [C, 1, h, w] in float16, plus the header."""
    _, t, h, w = latent_shape(frames, height, width, channels)
    return 2 * (2 * channels * t * h * w + channels * h * w) + HEADER_AND_ZIP_OVERHEAD


def image_file_bytes(width: int, height: int) -> int:
    """A conditioning PNG: about half the raw RGB size for natural video frames (an upper-side estimate)."""
    return width * height * 3 // 2


def next_materialisation_bytes(records: list[dict], layout: DataLayout, *, channels: int, augment: bool = False,
                               windows_per_clip: int = 1) -> int:
    """Space the frame and latent stages still need at the layout's frame configuration: the clips (video_id,
    scenario) whose cache or image is not on disk yet, where the layout puts them (each may give up to
    `windows_per_clip` windows, each with its own image and cache: the bound is what is checked)."""
    config = layout.frame_config
    per_latent = latent_file_bytes(config.frames, config.height, config.width, channels) * (2 if augment else 1) * windows_per_clip
    per_image = image_file_bytes(config.width, config.height) * windows_per_clip
    need = 0
    for record in records:
        if not layout.latent(record["scenario"], record["video_id"]).exists():
            need += per_latent
        if not layout.image(record["scenario"], record["video_id"]).exists():
            need += per_image
    return need


def free_bytes(path: Path | str) -> int:
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
