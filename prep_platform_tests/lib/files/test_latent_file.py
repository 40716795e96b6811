"""The latent cache format: its typed header (build, write, read, is-current) and its one latent-shape rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prep_platform.lib.files.latent_file import (
    LatentHeader,
    header_latent_shape,
    is_current_file,
    latent_shape,
    load_latent_file,
    read_latent_header,
    write_latent_file,
)
from prep_platform.lib.sample import SourceFile, Window
from prep_platform.lib.models.vae import TINY_CONFIG, VaeEncoder, VaeSettings
from prep_platform.lib.frame_config import FrameConfig


def _arrays(shape=(4, 3, 12, 18)):
    rng = np.random.default_rng(0)
    video = rng.standard_normal(shape).astype(np.float16)
    image = rng.standard_normal((shape[0], 1, *shape[2:])).astype(np.float16)
    return {"latent_mean": video, "latent_logvar": video, "image_latents": image, "image_logvar": image}


def test_a_built_header_reads_back_equal_and_knows_when_it_is_current(tmp_path):
    encoder = VaeEncoder(VaeSettings(preset="tiny"))
    config = FrameConfig(fps=8.0, width=144, height=96, frames=9)
    header = LatentHeader.build(
        video_id="video1", sample_id="video1__w1", augmentation="hflip", source=SourceFile("/clips/video1.mp4", "src"),
        frame_config=config, decoded={"crop_box": [0, 1, 2, 3], "window_start_s": 1.5},
        window=Window.from_row({"window_index": 1, "clean_window": True, "not_a_window_fact": 7}),
        encoded_with=encoder.encoded_with(),
        frame_fingerprint=config.fingerprint(), vae_fingerprint=encoder.identity_fingerprint(), config_fingerprint="cfg")
    assert (header.model_id, header.encode_dtype, header.latent_channels) == (encoder.model_id, "float32", 4)
    assert header.vae_fingerprint == encoder.identity_fingerprint() and header.window_index == 1
    assert "not_a_window_fact" not in header.to_json()
    assert (header.source_path, header.source_fingerprint, header.device, header.batch_size) == ("/clips/video1.mp4", "src", "cpu", 1)
    path = tmp_path / "video1__w1.hflip.npz"
    write_latent_file(path, _arrays(), header)
    assert read_latent_header(path) == header == load_latent_file(path)[0]
    assert header.is_current("src", "cfg") and not header.is_current("src", "other") and not header.is_current("x", "cfg")
    assert is_current_file(path, "src", "cfg") and not is_current_file(path, "src", "other")
    assert not is_current_file(tmp_path / "absent.npz", "src", "cfg")
    # the one shape rule, from the VAE config's compression ratios recorded in the header
    assert header_latent_shape(header.to_json(), header.latent_channels) == latent_shape(9, 96, 144, 4) == (4, 3, 12, 18)
    assert TINY_CONFIG["latent_channels"] == header.latent_channels


def test_unknown_header_keys_survive_a_round_trip_and_a_foreign_header_is_unreadable(tmp_path):
    header = LatentHeader.from_json({"source_fingerprint": "s", "written_by_a_later_version": {"a": 1}})
    assert header.extra == {"written_by_a_later_version": {"a": 1}}
    path = tmp_path / "clip.npz"
    write_latent_file(path, _arrays(), header)
    assert read_latent_header(path).to_json()["written_by_a_later_version"] == {"a": 1}
    with path.open("wb") as handle:
        np.savez(handle, header=np.array(json.dumps(["not", "an", "object"])), **_arrays())
    assert read_latent_header(path) is None
    with pytest.raises(ValueError, match=r"clip.npz: damaged latent file .*LatentHeader is a JSON object"):
        load_latent_file(path)
    path.write_bytes(b"garbage")
    assert read_latent_header(path) is None
