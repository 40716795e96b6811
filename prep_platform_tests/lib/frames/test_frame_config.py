"""The frame configuration's rules (lib.frame_config)."""

from __future__ import annotations

import pytest
from prep_platform.lib.frame_config import FrameConfig


def test_frame_count_and_size_follow_the_profile_rules():
    with pytest.raises(ValueError, match="cogvideox needs 8n\\+1 frames: 48 is not; 41 or 49"):
        FrameConfig(frames=48)
    with pytest.raises(ValueError, match="multiples of 16: 722x480 is not; 720x480 or 736x480"):
        FrameConfig(width=722)
    with pytest.raises(ValueError, match="cogvideox1.5 needs 16n\\+1 frames: 41 is not; 33 or 49"):
        FrameConfig(frames=41, profile="cogvideox1.5")


def test_an_unset_geometry_is_the_profiles_and_the_tag_names_the_profile():
    one, one_five = FrameConfig(), FrameConfig(profile="cogvideox1.5")
    assert (one.fps, one.width, one.height, one.frames) == (8.0, 720, 480, 49)
    assert (one_five.fps, one_five.width, one_five.height, one_five.frames) == (16.0, 1360, 768, 81)
    assert one.tag.startswith("cogvideox_720x480_49f_8fps_") and one_five.tag.startswith("cogvideox1.5_1360x768_81f_16fps_")
    # The same geometry under two profiles is two configurations: their caches never stand in for each other's.
    same = FrameConfig(fps=16, width=240, height=160, frames=17)
    assert same.fingerprint() != FrameConfig(fps=16, width=240, height=160, frames=17, profile="cogvideox1.5").fingerprint()
