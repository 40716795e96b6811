"""The scale note's measurement runs against the stages as they are (it called the frame stage with an old
signature, unnoticed, until this test)."""

from __future__ import annotations

from prep_platform.benchmarks.scale import measure


def test_the_scale_note_measures_both_per_clip_costs():
    decode_s, frame_s = measure(1)
    assert 0 < decode_s < 30 and 0 < frame_s < 30
