"""The VAE's facts come from its config, without weights: the latent channel count the storage check uses."""

from __future__ import annotations

import json

from prep_platform.lib.models.vae import TINY_CONFIG, VaeEncoder, VaeSettings, latent_channels, vae_config


def test_channels_come_from_the_config_of_each_preset():
    assert latent_channels(VaeSettings(preset="tiny")) == TINY_CONFIG["latent_channels"] == 4
    assert latent_channels(VaeSettings(preset="random_full")) == 16  # the released CogVideoX VAE's
    encoder = VaeEncoder(VaeSettings(preset="tiny"))
    assert encoder.identity()["latent_channels"] == latent_channels(VaeSettings(preset="tiny"))
    # The identity a cache is checked against is the same before the weights load (from the config) and after.
    before = encoder.identity_fingerprint()
    assert encoder.vae is None
    encoder.load()
    assert encoder.identity_fingerprint() == before
    built, described = dict(encoder.vae.config), vae_config(VaeSettings(preset="tiny"))
    assert tuple(built["block_out_channels"]) == tuple(described["block_out_channels"]) == TINY_CONFIG["block_out_channels"]


def test_a_pretrained_model_folder_is_read_for_its_config(tmp_path):
    folder = tmp_path / "model" / "vae"
    folder.mkdir(parents=True)
    config = {"_class_name": "AutoencoderKLCogVideoX", "latent_channels": 8, "scaling_factor": 0.7}
    (folder / "config.json").write_text(json.dumps(config))
    settings = VaeSettings(model_id=str(tmp_path / "model"), subfolder="vae")
    assert latent_channels(settings) == 8
