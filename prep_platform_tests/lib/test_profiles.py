"""Model profiles as data (lib.profiles): a profile decides a sample's geometry and its encoders, its rules refuse a
frame count or size the model cannot take (one line naming the rule), its caches live beside another profile's,
and the VAE's identity is its whole config."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from prep_platform.lib import pipeline
from prep_platform.lib.files.latent_file import read_latent_header
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.text_encoder import TextEncoderSettings
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings, vae_config
from prep_platform.lib.profiles import PROFILES, ProfileRuleError, profile_named
from prep_platform.lib.settings import PrepSettings
from prep_platform.lib.stages.latents import LatentItem, run_latent_stage
from prep_platform.lib.source_files import file_fingerprint
from prep_platform.samples import DEMO_SAMPLE
from prep_platform.samples.synthetic_clips import write_clip

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_profiles_hold_the_models_facts():
    one, one_five = PROFILES["cogvideox"], PROFILES["cogvideox1.5"]
    assert (one.fps, one.frame_rule(), one.default_frames, one.default_size, one.size_multiple) == (8.0, "8n+1", 49, (720, 480), 16)
    assert (one_five.fps, one_five.frame_rule(), one_five.default_frames, one_five.size_multiple) == (16.0, "16n+1", 81, 16)
    for profile in (one, one_five):
        vae = profile.vae
        assert (vae.model_class, vae.latent_channels, vae.spatial_ratio, vae.temporal_ratio) == ("AutoencoderKLCogVideoX", 16, 8, 4)
        assert (profile.text_encoder.model_class, profile.text_encoder.max_tokens) == ("T5EncoderModel", 226)
        profile.check_frames(profile.default_frames)
        profile.check_size(*profile.default_size)
        profile.check_size(*profile.demo_size)
    # The full-size configs are the released ones: CogVideoX 1.0 scales by 1.15258426, 1.5 by 0.7 with inverted
    # image latents (what diffusers' pipelines read from the VAE config).
    assert vae_config(VaeSettings(preset="random_full"), one)["scaling_factor"] == pytest.approx(1.15258426)
    full = vae_config(VaeSettings(preset="random_full"), one_five)
    assert (full["scaling_factor"], full["invert_scale_latents"], full["latent_channels"]) == (0.7, True, 16)
    assert one_five.vae.normalisation.invert_image_latents and not one.vae.normalisation.invert_image_latents


def test_the_rules_name_the_model_the_rule_and_the_nearest_values():
    cogvideox, one_five = profile_named("cogvideox"), profile_named("cogvideox1.5")
    with pytest.raises(ProfileRuleError, match=r"^cogvideox needs 8n\+1 frames: 50 is not; 49 or 57$"):
        cogvideox.check_frames(50)
    with pytest.raises(ProfileRuleError, match=r"^cogvideox1.5 needs 16n\+1 frames: 50 is not; 49 or 65$"):
        one_five.check_frames(50)
    assert one_five.check_frames(49) == 49 and cogvideox.check_frames(57) == 57
    with pytest.raises(ProfileRuleError, match=r"^cogvideox needs a width and height in multiples of 16: 721x480 is not; "
                                               r"720x480 or 736x480$"):
        cogvideox.check_size(721, 480)
    with pytest.raises(ProfileRuleError, match=r"unknown model profile 'cogvidx'; did you mean cogvideox\?"):
        profile_named("cogvidx")


def test_the_profiles_module_imports_nothing_heavy():
    code = ("import sys, prep_platform.lib.profiles, prep_platform.lib.frame_config; "
            "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'av', 'cv2', 'dagster') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("tool, options, says", [
    ("preprocess_video_latents", ["--profile", "cogvideox", "--frames", "50"],
     "--frames: cogvideox needs 8n+1 frames: 50 is not; 49 or 57"),
    ("preprocess_video_latents", ["--size", "721x480"],
     "--size: cogvideox needs a width and height in multiples of 16: 721x480 is not; 720x480 or 736x480"),
    ("preprocess_video_latents", ["--profile", "cogvideox1.5", "--frames", "57"],
     "--frames: cogvideox1.5 needs 16n+1 frames: 57 is not; 49 or 65"),
    ("download_msr_vtt", ["--profile", "cogvideox1.5", "--frames", "50"],
     "--frames: cogvideox1.5 needs 16n+1 frames: 50 is not; 49 or 65"),
    ("export_training_set", ["--profile", "cogvidx", "--format", "cogvideox-factory"],
     "invalid choice 'cogvidx'; did you mean cogvideox?"),
    ("encode_prompts", ["--profile", "wan"], "invalid choice 'wan'"),
])
def test_a_tool_refuses_what_the_profile_rules_out_in_one_line(tool, options, says, tmp_path):
    done = subprocess.run([sys.executable, "-m", f"prep_platform.data_prep.{tool}", "--data-root", str(tmp_path), *options],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and says in lines[0], done.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was written


def _settings(root: Path, profile: str, **values) -> PrepSettings:
    return PrepSettings(data_root=str(root), msr_vtt_source="sample", profile=profile, workers=0, msr_vtt_limit=8,
                        frame_size="144x96", **values)


def test_two_profiles_caches_live_side_by_side_and_neither_re_encodes_the_other(tmp_path):
    """The sample prepared for cogvideox (9 frames at 8 fps) and for cogvideox1.5 (17 frames at 16 fps, its tiny
    VAE: scaling 0.7, inverted image latents) in one data root: each profile's frames, images and latents in
    folders of their own, and a second run of either finds every cache current."""
    one = _settings(tmp_path, "cogvideox", frames=9)
    one_five = _settings(tmp_path, "cogvideox1.5", frames=17)
    pipeline.fetch_msr_vtt(one, one.layout(), sample=DEMO_SAMPLE)
    pipeline.build_metadata(one, one.layout())
    scenario = pipeline.chosen_scenarios(one, one.layout(), None)[0]
    encoders = {name: VaeEncoder(VaeSettings(preset="tiny"), profile_named(name)) for name in PROFILES}

    def prepare(settings: PrepSettings):
        run = pipeline.prepare_scenario(settings, settings.layout(), scenario, 0, encoder=encoders[settings.profile])
        return run.latents.counts

    first = {"cogvideox": prepare(one), "cogvideox1.5": prepare(one_five)}
    assert all(set(counts) == {"encoded"} for counts in first.values()), first
    again = {"cogvideox": prepare(one), "cogvideox1.5": prepare(one_five)}
    assert again == {name: {"skipped": sum(counts.values())} for name, counts in first.items()}, again

    for settings in (one, one_five):
        layout = settings.layout()
        folder = layout.latents_folder(scenario)
        assert folder == tmp_path / "prepared" / "latents" / settings.profile / scenario
        caches = sorted(folder.glob("*.npz"))
        assert caches and layout.image_folder(scenario).name.startswith(f"{settings.profile}_144x96_")
        header = read_latent_header(caches[0])
        assert (header.profile, header.frames, header.fps) == (settings.profile, settings.frame_config().frames,
                                                               settings.frame_config().fps)
        expected = (0.7, True) if settings.profile == "cogvideox1.5" else (pytest.approx(1.15258426), False)
        assert (header.scaling_factor, header.invert_scale_latents) == expected
        assert layout.frames_manifest(scenario, 0).is_file() and layout.latents_manifest(scenario, 0).is_file()

    # And on to a trainer's export, the 1.5 profile end to end: index, its text encoder's embeddings, the export.
    layout = one_five.layout()
    assert layout.training_index(scenario, 0).is_file()
    pipeline.encode_prompts(one_five, layout, scenario, 0, pipeline.load_text_encoder(TextEncoderSettings(preset="tiny"),
                                                                                      profile_named("cogvideox1.5")))
    export = pipeline.export_training_set(one_five.with_values(export_split="all"), layout, "cogvideox-factory",
                                          scenarios=[scenario])
    stated = json.loads((export.folder / "export.json").read_text())
    assert export.stems > 0 and stated == export.export
    assert (stated["latents"]["profile"], stated["latents"]["scaling_factor"], stated["latents"]["frames"]) == ("cogvideox1.5", 0.7, 17)


def test_a_vae_of_another_profile_is_refused_by_the_latent_stage(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, seconds=2.0, textured=True)
    layout = DataLayout(tmp_path, FrameConfig(width=144, height=96, frames=9))
    item = LatentItem("clip", str(clip), layout.latent("urban", "clip"), file_fingerprint(clip), "urban")
    with pytest.raises(ValueError, match="the VAE is cogvideox1.5's but the frames are cogvideox's"):
        run_latent_stage([item], layout, VaeEncoder(VaeSettings(preset="tiny"), profile_named("cogvideox1.5")), workers=0)


def test_the_vae_identity_is_its_whole_config_and_a_tiny_config_change_makes_every_latent_stale(tmp_path):
    clips = []
    for i in range(2):
        clips.append(tmp_path / f"video{i}.mp4")
        write_clip(clips[-1], seconds=2.0, textured=True, seed=i)
    layout = DataLayout(tmp_path, FrameConfig(width=144, height=96, frames=9))
    items = [LatentItem(p.stem, str(p), layout.latent("urban", p.stem), file_fingerprint(p), "urban") for p in clips]
    cogvideox = profile_named("cogvideox")
    # A key the old hand-picked identity never looked at (the VAE's normalisation epsilon): still another VAE.
    edited = dataclasses.replace(cogvideox, vae=dataclasses.replace(
        cogvideox.vae, tiny_config={**cogvideox.vae.tiny_config, "norm_eps": 1e-5}))
    plain, changed = VaeEncoder(VaeSettings(preset="tiny"), cogvideox), VaeEncoder(VaeSettings(preset="tiny"), edited)
    assert plain.identity_fingerprint() != changed.identity_fingerprint()

    assert run_latent_stage(items, layout, plain, workers=0).counts == {"encoded": 2}
    before = plain.identity_fingerprint()
    assert plain.loaded and before == VaeEncoder(VaeSettings(preset="tiny"), cogvideox).identity_fingerprint()  # loading changes nothing
    assert run_latent_stage(items, layout, VaeEncoder(VaeSettings(preset="tiny"), cogvideox), workers=0).counts == {"skipped": 2}
    assert run_latent_stage(items, layout, changed, workers=0).counts == {"encoded": 2}  # every cache stale
    assert read_latent_header(items[0].latent_path).vae_config_sha256 == changed.config_sha256


def test_an_export_format_the_profile_does_not_serve_is_refused(tmp_path, monkeypatch):
    import prep_platform.lib.profiles as profiles

    settings = _settings(tmp_path, "cogvideox1.5", frames=17)
    narrow = dataclasses.replace(settings.model(), export_formats=("finetrainers",))  # served by one trainer only
    monkeypatch.setattr(profiles, "PROFILES", {**profiles.PROFILES, "cogvideox1.5": narrow})
    with pytest.raises(ValueError, match=r"^the cogvideox-factory format does not serve the cogvideox1.5 profile; "
                                         r"its formats: finetrainers$"):
        pipeline.export_samples(settings, settings.layout(), "cogvideox-factory")
