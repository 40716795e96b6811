"""Cover-crop geometry (lib.functional)."""

from __future__ import annotations

import pytest
from prep_platform.lib.functional import cover_crop_box


def test_cover_crop_box_examples():
    assert cover_crop_box(320, 240, 720, 480) == pytest.approx((0, 13.333333, 320, 226.666667))
    assert cover_crop_box(240, 320, 720, 480) == pytest.approx((0, 80, 240, 240))
