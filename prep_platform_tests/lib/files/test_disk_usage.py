"""Storage estimates against real files."""

from __future__ import annotations

import numpy as np

from prep_platform.lib.source_files import file_fingerprint
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.stages.latents import LatentItem, run_latent_stage
from prep_platform.lib.files.disk_usage import (HEADER_AND_ZIP_OVERHEAD, directory_bytes, latent_file_bytes, layer_bytes,
                                               next_materialisation_bytes)
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings


def test_latent_size_estimate_matches_a_real_cache_file(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, seconds=2.0, textured=True)
    config = FrameConfig(width=144, height=96, frames=9)
    target = tmp_path / "latents" / "urban" / "clip.npz"
    run_latent_stage([LatentItem("clip", str(clip), target, file_fingerprint(clip))], DataLayout(tmp_path, config),
                     VaeEncoder(VaeSettings(preset="tiny")), workers=0)
    estimate = latent_file_bytes(9, 96, 144, channels=4)
    assert estimate - HEADER_AND_ZIP_OVERHEAD <= target.stat().st_size <= estimate  # arrays exact, header within the allowance
    # The real geometry: [16, 13, 60, 90] twice plus [16, 1, 60, 90], float16: about 4.7 MB per clip.
    assert latent_file_bytes(49, 480, 720, 16) == 2 * (2 * 16 * 13 * 60 * 90 + 16 * 60 * 90) + HEADER_AND_ZIP_OVERHEAD


def test_next_materialisation_counts_only_what_is_missing(tmp_path):
    layout = DataLayout(tmp_path, FrameConfig(width=144, height=96, frames=9))
    for path in (layout.latent("urban", "have"), layout.image("urban", "have")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    records = [{"video_id": "have", "scenario": "urban"}, {"video_id": "missing", "scenario": "urban"}]
    need = next_materialisation_bytes(records, layout, channels=4)
    assert need == latent_file_bytes(9, 96, 144, 4) + 144 * 96 * 3 // 2
    # At another frame size the clip's image is elsewhere: it is still to make there.
    other = DataLayout(tmp_path, FrameConfig(width=240, height=160, frames=9))
    assert next_materialisation_bytes(records[:1], other, channels=4) == 240 * 160 * 3 // 2


def test_layer_sizes_are_measured(tmp_path):
    (tmp_path / "raw" / "msr-vtt").mkdir(parents=True)
    (tmp_path / "raw" / "msr-vtt" / "a.bin").write_bytes(np.zeros(1000, np.uint8).tobytes())
    (tmp_path / "prepared" / "images").mkdir(parents=True)
    (tmp_path / "prepared" / "images" / "b.png").write_bytes(b"12345")
    sizes = layer_bytes(DataLayout(tmp_path).layers())
    assert sizes["raw"] == 1000 and sizes["frames"] == 5 and sizes["latents"] == 0
    assert directory_bytes(tmp_path) == 1005
