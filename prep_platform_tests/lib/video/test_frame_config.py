"""The frame configuration's rules (lib.frame_config)."""

from __future__ import annotations

import pytest
from prep_platform.lib.frame_config import FrameConfig


def test_frame_count_must_be_8n_plus_1():
    with pytest.raises(ValueError, match="8N\\+1"):
        FrameConfig(frames=48)
    with pytest.raises(ValueError, match="multiples of 8"):
        FrameConfig(width=722)
