"""Shot detection and window planning rules (lib.functional) on scores and times, without video."""

from __future__ import annotations

import pytest
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.functional import CutDetector, plan_windows, shots_from_cuts


def test_cut_rules():
    def cuts(scores, settings, fps=30.0):
        detector = CutDetector(settings)
        found = []
        for i, score in enumerate(scores):
            found += detector.push(i / fps, score)
        return found + detector.finish()

    calm = [0.0] + [2.0] * 59
    spike = list(calm)
    spike[20] = 22.0  # below the content threshold (27), 11x its neighbours
    assert cuts(spike, ShotSettings(detector="content")) == []
    assert cuts(spike, ShotSettings(detector="adaptive")) == [20]
    assert cuts(spike, ShotSettings(detector="combined")) == [20]
    # Fast motion: everything over the content threshold, nothing stands out: the plain content rule cuts every
    # min_shot_s, the adaptive and combined rules do not.
    motion = [0.0] + [30.0] * 59
    assert cuts(motion, ShotSettings(detector="content")) == [15, 30, 45]
    assert cuts(motion, ShotSettings(detector="adaptive")) == cuts(motion, ShotSettings()) == []
    # A hard cut in the middle of fast motion: 2.5x the motion around it. The adaptive rule (3x) misses it; combined
    # (over 27 and standing out 1.5x) finds it.
    motion_cut = [0.0] + [20.0] * 59
    motion_cut[30] = 50.0
    assert cuts(motion_cut, ShotSettings(detector="adaptive")) == []
    assert cuts(motion_cut, ShotSettings()) == [30]
    # Two cuts closer than min_shot_s: the second is not a cut.
    close = list(calm)
    close[20] = close[25] = 60.0
    assert cuts(close, ShotSettings(min_shot_s=0.5)) == [20]
    assert cuts(close, ShotSettings(min_shot_s=0.1)) == [20, 25]
    # A cut in the last frames is still decided (the adaptive rule looks ahead and finish() closes the clip).
    late = list(calm)
    late[-1] = 60.0
    assert cuts(late, ShotSettings()) == [59]


def test_window_planning_rules():
    shots = shots_from_cuts([3.0, 9.2], 30.0)  # 3 s, 6.2 s, 20.8 s
    settings = ShotSettings(windows_per_clip=2)
    plan = plan_windows(shots, settings, window_start_s=0.0, span_s=6.0, step_s=6.125)
    assert [(w.start_s, w.shot_index) for w in plan] == [(3.0, 1), (9.2, 2)]
    longest = plan_windows(shots, ShotSettings(windows_per_clip=2, window_policy="longest"), window_start_s=0.0,
                           span_s=6.0, step_s=6.125)
    assert [(w.start_s, w.shot_index) for w in longest] == [(9.2, 2), (9.2 + 6.125, 2)]
    with pytest.raises(ValueError, match="shot_detector"):
        ShotSettings(detector="pyscenedetect")
