"""Layouts around folders the tests make in their own places."""

from __future__ import annotations

from pathlib import Path

from prep_platform.lib.layout import DataLayout
from prep_platform.lib.frame_config import FrameConfig


def layout_around(msr_vtt_dir: Path | str | None = None, *, prepared: Path | str | None = None,
                  panda_dir: Path | str | None = None, frame_config: FrameConfig = FrameConfig(),
                  root: Path | str | None = None) -> DataLayout:
    """A DataLayout whose MSR-VTT folder (and prepared folders, Panda-70M folder) are the given ones. Without a
    root, the root is two levels above the MSR-VTT folder (`<root>/raw/msr-vtt`)."""
    base = Path(root) if root is not None else Path(msr_vtt_dir).parent.parent
    prepared = Path(prepared) if prepared is not None else None
    return DataLayout(base, frame_config).relocated(
        msr_vtt=msr_vtt_dir, panda=panda_dir,
        images_root=prepared / "images" if prepared is not None else None,
        latents_root=prepared / "latents" if prepared is not None else None,
    )
