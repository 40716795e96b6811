"""PNG files: conditioning images and the contact sheet of a scenario's images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from prep_platform.lib.files.atomic import write_bytes_atomic


def write_png(path: Path | str, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, encoded.tobytes())


def contact_sheet(images: list[tuple[str, str]], path: Path | str, *, columns: int = 4, thumb_width: int = 240) -> Path | None:
    """A grid of (label, PNG path) thumbnails, labelled, for a quick look at a scenario's conditioning images."""
    thumbs = []
    for label, image_path in images:
        image = cv2.imread(str(image_path))
        if image is None:
            continue
        height = max(1, round(image.shape[0] * thumb_width / image.shape[1]))
        thumb = cv2.resize(image, (thumb_width, height), interpolation=cv2.INTER_AREA)
        cv2.putText(thumb, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(thumb, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        thumbs.append(thumb)
    if not thumbs:
        return None
    height = max(t.shape[0] for t in thumbs)
    rows = []
    for start in range(0, len(thumbs), columns):
        row = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in thumbs[start : start + columns]]
        row += [np.zeros_like(row[0])] * (columns - len(row))
        rows.append(np.hstack(row))
    ok, encoded = cv2.imencode(".png", np.vstack(rows))
    write_bytes_atomic(path, encoded.tobytes())
    return Path(path)
