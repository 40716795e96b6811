"""Windows inside shots through the stages: each window is its own sample with its own conditioning image, latent
file, training-index row and export stem, named the same way everywhere; the latent header records the window and
its shot; detector settings that move no window leave its cache current, and those that move one re-encode it."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from prep_platform.lib.exports.collect import collect_samples
from prep_platform.lib.files.latent_file import read_latent_header
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
from prep_platform.samples.synthetic_clips import scene_of, write_shots_clip
from prep_platform.lib.frames.stage import (
    frame_samples,
    read_frames_manifest,
    run_frame_stage,
    window_summary,
    write_frames_manifest,
)
from prep_platform.lib.stages.latents import latent_items, run_latent_stage
from prep_platform.lib.stages.training_index import build_training_index
from prep_platform.lib.statuses import NO_CLEAN_WINDOW, failure_count
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import read_window

CONFIG = FrameConfig(width=144, height=96, frames=9, fps=8.0)  # a window spans 1.0 s and needs 1.125 s


@pytest.fixture(scope="module")
def encoder() -> VaeEncoder:
    return VaeEncoder(VaeSettings(preset="tiny", batch_size=2))


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("clips")
    plan = {"steady": [4.0], "cut": [0.6, 2.4], "choppy": [0.8] * 4}
    out = []
    for seed, (name, shots) in enumerate(plan.items()):
        path = folder / f"{name}.mp4"
        write_shots_clip(path, shots, seed=seed)
        out.append({"video_id": name, "scenario": "urban", "split": "train", "video_path": str(path),
                    "caption": f"a {name} clip", "prompt_variants": [f"a {name} clip"]})
    return out


def _stages(records, root, encoder, shots: ShotSettings):
    layout = DataLayout(root, CONFIG)
    frames = run_frame_stage(records, layout, shot_settings=shots, workers=0)
    write_frames_manifest(layout.frames_manifest("urban", 0), frames, "urban")
    latents = run_latent_stage(latent_items(frames.samples, layout), layout, encoder, workers=0)
    return layout, frames, latents


def test_each_window_is_a_sample_named_the_same_everywhere(records, encoder, tmp_path):
    layout, frames, latents = _stages(records, tmp_path, encoder, ShotSettings(windows_per_clip=3))
    samples = {sample.sample_id: sample.window for sample in frames.samples}  # typed: what the latent stage takes
    rows = {row["sample_id"]: row for row in frames.clips if row["status"] == "ok"}  # the manifest's rows
    assert sorted(rows) == sorted(samples)
    # steady: one 4 s shot -> 3 windows from 0 s; cut: the 0.6 s shot is too short, 2 windows fit the 2.4 s shot;
    # choppy: four 0.8 s shots -> none.
    assert sorted(samples) == ["cut", "cut__w1", "steady", "steady__w1", "steady__w2"]
    assert [samples[s].window_start_s for s in ("steady", "steady__w1", "steady__w2")] == [0.0, 1.125, 2.25]
    assert samples["cut"].window_start_s == pytest.approx(0.6, abs=1 / 30) and samples["cut"].shot_index == 1
    assert frames.counts == {NO_CLEAN_WINDOW: 1, "ok": 2} and failure_count(frames.counts) == 0
    summary = window_summary(frames.clips)
    assert summary["clips_by_shot_count"] == {"1": 1, "2": 1, "4": 1} and summary["windows_taken"] == 5
    assert summary["clips_no_clean_window"] == 1 and summary["no_clean_window_share"] == pytest.approx(1 / 3, abs=1e-4)

    for sample, row in rows.items():
        image = layout.image("urban", sample)
        assert row["image_path"] == str(image) and image.exists()
        assert image.name == f"{sample}.png" and row["latent_path"] == str(layout.latent("urban", sample))
        # The conditioning image is the first frame of the window the latent stage encodes.
        window = read_window(row["video_path"], CONFIG, want_frames=True, count_all=False, start_s=row["window_start_s"])
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB), window.frames[0])
        assert len({scene_of(f) for f in window.frames}) == 1
        header = read_latent_header(layout.latent("urban", sample))
        assert header.sample_id == sample and header.video_id == row["video_id"]
        assert header.window_start_s == row["window_start_s"] and header.window_end_s == row["window_end_s"]
        assert header.shot == row["shot"] and header.shot_index == row["shot_index"]
        assert header.clean_window is True and header.shot_detection["detector"] == "combined"
    assert latents.counts == {"encoded": 5}

    manifest = read_frames_manifest(layout.frames_manifest("urban", 0))
    choppy = next(row for row in manifest["clips"] if row["video_id"] == "choppy")
    assert choppy["status"] == NO_CLEAN_WINDOW and "4 shots of 0.80, 0.80, 0.80, 0.80 s" in choppy["reason"]
    assert manifest["shot_detection"]["threshold"] == 27.0 and manifest["windows"]["windows_taken"] == 5

    index = build_training_index(records, frame_samples(manifest["clips"]), {"clips": latents.clips})
    assert sorted(row["sample_id"] for row in index.rows) == sorted(samples)
    assert {row["sample_id"]: row["caption"] for row in index.rows}["steady__w2"] == "a steady clip"
    stems = {s.stem: s for s in collect_samples(layout, {"urban": index.rows}, {}, splits=("train",), need_embeddings=False).samples}
    assert sorted(stems) == sorted(f"urban__{sample}" for sample in samples)
    assert stems["urban__steady__w1"].video_id == "steady" and stems["urban__steady__w1"].header["window_start_s"] == 1.125


def test_detector_settings_stale_exactly_the_caches_whose_window_moved(records, encoder, tmp_path):
    _stages(records, tmp_path, encoder, ShotSettings())
    # A stricter threshold finds the same cut (the adaptive rule): no window moves, nothing is encoded again.
    _, _, same = _stages(records, tmp_path, encoder, ShotSettings(threshold=40.0, min_shot_s=0.3))
    assert same.counts == {"skipped": 2}
    # Without detection the cut clip's window starts at 0 s (across its cut): only that cache is stale.
    layout, frames, moved = _stages(records, tmp_path, encoder, ShotSettings(detector="none"))
    statuses = {row["sample_id"]: row["status"] for row in moved.clips}
    assert statuses == {"steady": "skipped", "cut": "encoded", "choppy": "encoded"}
    assert read_latent_header(layout.latent("urban", "cut")).window_start_s == 0.0


def test_several_windows_refuse_ids_that_look_like_windows(records, tmp_path):
    record = {**records[0], "video_id": "steady__w1"}
    layout = DataLayout(tmp_path, CONFIG)
    one = run_frame_stage([record], layout, shot_settings=ShotSettings(), workers=0)
    assert one.counts == {"ok": 1}
    several = run_frame_stage([record], layout, shot_settings=ShotSettings(windows_per_clip=2), workers=0)
    assert several.counts == {"unsafe_id": 1} and "another clip's window" in several.clips[0]["reason"]
