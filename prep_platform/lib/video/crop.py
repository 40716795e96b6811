"""Crop geometry: scale a source frame to cover the target size and cut the centre, never stretching. One
converter for every reader of windows, so the frame stage's image and the latent stage's frames are the same
pixels."""

from __future__ import annotations

import cv2
import numpy as np

from prep_platform.lib.frame_config import FrameConfig


def cover_crop_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[float, float, float, float]:
    """The centered source region with the target's aspect ratio: scaling it to the target covers it exactly."""
    scale = max(dst_w / src_w, dst_h / src_h)
    crop_w, crop_h = dst_w / scale, dst_h / scale
    x0, y0 = (src_w - crop_w) / 2, (src_h - crop_h) / 2
    return (x0, y0, x0 + crop_w, y0 + crop_h)


def crop_and_resize(rgb: np.ndarray, box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """Crop the box (rounded to whole pixels) and resize it to width x height: aspect kept, never stretched."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    region = rgb[y0:y1, x0:x1]
    downscale = region.shape[1] > width
    return cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA if downscale else cv2.INTER_LINEAR)


class FrameConverter:
    """Decoded frames -> [H, W, 3] uint8 RGB at the configured size. The crop box comes from the first frame
    converted (or the stream's size, `box_for`); a frame held for several targets is converted once."""

    def __init__(self, config: FrameConfig):
        self.config = config
        self.box: tuple[float, float, float, float] | None = None
        self._last: tuple[object, np.ndarray] | None = None  # (source frame, its pixels)

    def __call__(self, frame) -> np.ndarray:
        if self._last is not None and self._last[0] is frame:
            return self._last[1]
        rgb = frame.to_ndarray(format="rgb24")
        pixels = crop_and_resize(rgb, self.box_for(rgb.shape[1], rgb.shape[0]), self.config.width, self.config.height)
        self._last = (frame, pixels)
        return pixels

    def box_for(self, width: int, height: int) -> tuple[float, float, float, float]:
        if self.box is None:
            self.box = cover_crop_box(width, height, self.config.width, self.config.height)
        return self.box

    def recorded_box(self) -> list[float] | None:
        """The crop box as recorded in rows and headers (x0, y0, x1, y1 in source pixels, 3 decimals)."""
        return [round(v, 3) for v in self.box] if self.box else None
