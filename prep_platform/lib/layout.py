"""Where the prepared outputs of one clip live. Ids and scenario names are checked here, and every path is
resolved inside its root, so nothing a dataset or a hand-edited metadata file says can place a file elsewhere.

    <images root>/<scenario>/<frame config tag>/<video_id>.png    conditioning image, one folder per frame config
    <latents root>/<scenario>/<video_id>.npz                       latent cache (self-describing header)
"""

from __future__ import annotations

from pathlib import Path

from prep_platform.lib.safe_paths import check_id, path_inside


def conditioning_image_path(images_root: Path | str, scenario: str, video_id: str, frame_tag: str) -> Path:
    """A run with another frame configuration writes beside, never over, the images of this one."""
    return path_inside(images_root, check_id(scenario, "scenario"), frame_tag, f"{check_id(video_id, 'video_id')}.png")


def latent_cache_path(latents_root: Path | str, scenario: str, video_id: str) -> Path:
    return path_inside(latents_root, check_id(scenario, "scenario"), f"{check_id(video_id, 'video_id')}.npz")
