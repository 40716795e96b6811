"""The settings of the two models the pipeline runs, with their meanings, written once: the VAE (latent stage) and
the text encoder (prompt embeddings) of the run's model profile (lib.profiles: which classes and repos; unset
model ids, subfolders and revisions are the profile's). Light (pydantic only): lib.settings nests them in
PrepSettings, the command-line options and the Dagster resources are generated from these fields, and the models
(lib.models.vae, lib.models.text_encoder) take them."""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, BaseModel, Field, field_validator

from prep_platform.lib.profiles import ModelProfile, profile_named
from prep_platform.lib.setting_rules import SETTINGS_CONFIG, OptionalName, OptionalText, one_of

DEFAULT_MODEL_ID = profile_named(None).vae.repo  # the default profile's (CogVideoX 1.0 5B I2V)
VAE_PRESETS = ("default", "low_memory", "tiny", "random_full")
TEXT_ENCODER_PRESETS = ("default", "tiny")
MAX_LENGTH = profile_named(None).text_encoder.max_tokens  # CogVideoX's 226: what every trainer pads and truncates to
# The names lib.models.vae.resolve_dtype takes (torch is not imported here to list them).
DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")
AUTO_PRESET = ("unset: tiny when the data root's MSR-VTT was made from the embedded sample (or the source is sample), "
               "default otherwise")


class HubModel(NamedTuple):
    """A pretrained model as the Hub knows it, and what to tell a user who cannot have it (lib.models.hub_models)."""

    what: str  # "the VAE": how a message names it
    model_id: str
    revision: str
    subfolder: str | None
    hint: str  # the way out when it cannot be had here


# Both shells: the tools take the option, the main job and the code location the variable.
VAE_HINT = ("or encode with --vae-preset tiny (PREP_PLATFORM_VAE_PRESET=tiny for the main job and the UI; random "
            "weights: a demo, not a model to train on)")
TEXT_ENCODER_HINT = ("or encode with --text-encoder-preset tiny (PREP_PLATFORM_TEXT_ENCODER_PRESET=tiny for the main "
                     "job and the UI; random weights: a demo)")


def _device(value: str) -> str:
    # What torch.device takes for the machines this runs on; a typo ("cude") would fail only when the model loads.
    if not re.fullmatch(r"auto|cpu|mps|(cuda|xpu)(:\d+)?", value):
        raise ValueError("must be auto, cpu, cuda, cuda:<n>, mps or xpu[:<n>]")
    return value


Device = Annotated[str, AfterValidator(_device)]
Dtype = Annotated[str, one_of(*DTYPES)]


def _preset_in(value: str | None, presets: tuple[str, ...], model: str) -> str | None:
    if value is not None and value not in presets:
        raise ValueError(f"unknown {model} preset {value!r}; choose one of {', '.join(presets)}")
    return value


def _model_served(model_id: str | None, preset: str | None, built_here: tuple[str, ...]) -> str | None:
    # A preset built here from a config loads no model: a model named beside it would be silently ignored.
    if preset in built_here and model_id is not None:
        raise ValueError(f"the {preset} preset builds its model from a config with random weights and loads none, so "
                         f"the model {model_id!r} would be ignored: drop one of the two")
    return model_id


def _auto_preset(preset: str | None, model_id: str | None, demo: bool) -> str:
    """The preset set; else the tiny model on the demo's data, unless a model was named (what the user asked for,
    never silently replaced by the tiny one: if it cannot be had, it is refused up front); else the pretrained one."""
    if preset is not None:
        return preset
    return "tiny" if demo and model_id is None else "default"


class VaeSettings(BaseModel):
    """How the latent stage runs the profile's VAE."""

    model_config = SETTINGS_CONFIG

    preset: str | None = Field(
        None, description="default: the pretrained VAE, untiled; low_memory: tiling + slicing + batch 1 (fits a 24 GB "
        "card at 49x480x720); tiny: the same class with random weights and a tiny config (CPU demo, tests); "
        f"random_full: the full-size config with random weights (GPU benchmarks without a download); {AUTO_PRESET}")
    model_id: OptionalText = Field(None, description="the VAE's pretrained repo id or local folder (unset: the model "
                                   f"profile's, e.g. {DEFAULT_MODEL_ID})")
    subfolder: OptionalText = Field(None, description="the VAE's folder inside the model repo (unset: the profile's, vae)")
    revision: OptionalName = Field(None, description="branch, tag or commit of the VAE's repo (unset: the profile's)")
    device: Device = Field("auto", description="auto: cuda when available")
    dtype: Dtype = Field("auto", description="auto (bf16 on CUDA, fp32 on CPU), bfloat16, float16, float32")
    batch_size: int = Field(
        0, ge=0, description="clips per VAE call (0: on CUDA the largest of 4, 2 that fits the free GPU memory, else "
        "the tiled path at 1; 1 on CPU)")
    tiling: bool = Field(False, description="VAE tiling (much less GPU memory, a little slower)")
    slicing: bool = Field(False, description="VAE slicing (encode a batch one clip at a time)")
    compile: bool | None = Field(
        None, description="torch.compile the encoder, its caches kept under <data-root>/cache/torch (unset: on CUDA, "
        "1.45x on an H200 after ~1 min; off on CPU)")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        return _preset_in(value, VAE_PRESETS, "VAE")

    @field_validator("model_id")
    @classmethod
    def _served_by_the_preset(cls, value: str, info) -> str:
        return _model_served(value, info.data.get("preset"), ("tiny", "random_full"))

    def decided(self, *, demo: bool) -> VaeSettings:
        """These settings with the preset decided (demo: the data is the embedded sample's)."""
        return self.model_copy(update={"preset": _auto_preset(self.preset, self.model_id, demo)})

    def resolved(self) -> VaeSettings:
        """Apply the preset's switches on top of the explicit ones (an unset preset is the pretrained default)."""
        if self.preset == "low_memory":
            return self.model_copy(update={"tiling": True, "slicing": True, "batch_size": 1})
        if self.preset is None:  # the encoder has no data root to decide by (PrepSettings.vae_settings does)
            return self.model_copy(update={"preset": "default"})
        return self

    def of_profile(self, profile: ModelProfile) -> VaeSettings:
        """These settings with what is unset taken from the profile's VAE (the repo, its subfolder and revision)."""
        return self.model_copy(update={"model_id": self.model_id or profile.vae.repo,
                                       "subfolder": self.subfolder if self.subfolder is not None else profile.vae.subfolder,
                                       "revision": self.revision or profile.vae.revision})

    def hub_model(self, profile: ModelProfile | None = None) -> HubModel | None:
        """The pretrained VAE these settings load for the profile (None: the default profile; a preset built here
        from a config: None, nothing to fetch)."""
        if self.resolved().preset in ("tiny", "random_full"):
            return None
        filled = self.of_profile(profile or profile_named(None))
        return HubModel("the VAE", filled.model_id, filled.revision, filled.subfolder or None, VAE_HINT)


class TextEncoderSettings(BaseModel):
    """How the prompt stage runs the profile's text encoder."""

    model_config = SETTINGS_CONFIG

    preset: str | None = Field(
        None, description="default: the model's own T5 encoder and tokenizer; tiny: the same classes with a tiny "
        f"random config and an offline tokenizer (CPU demo, tests); {AUTO_PRESET}")
    model_id: OptionalText = Field(None, description="model repo id or local folder holding text_encoder/ and tokenizer/ "
                                   "(unset: the model profile's)")
    revision: OptionalName = Field(None, description="branch, tag or commit of the text encoder's repo (unset: the profile's)")
    device: Device = Field("auto", description="auto: cuda when available")
    dtype: Dtype = Field("auto", description="auto (bf16 on CUDA, fp32 on CPU), bfloat16, float16, float32")
    batch_size: int = Field(8, ge=1, description="prompts encoded together")
    max_length: int | None = Field(None, ge=1, description="tokens per prompt: padded and truncated to it (unset: the "
                                   "profile's, CogVideoX: 226)")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        return _preset_in(value, TEXT_ENCODER_PRESETS, "text encoder")

    @field_validator("model_id")
    @classmethod
    def _served_by_the_preset(cls, value: str, info) -> str:
        return _model_served(value, info.data.get("preset"), ("tiny",))

    def decided(self, *, demo: bool) -> TextEncoderSettings:
        """These settings with the preset decided (demo: the data is the embedded sample's)."""
        return self.model_copy(update={"preset": _auto_preset(self.preset, self.model_id, demo)})

    def of_profile(self, profile: ModelProfile) -> TextEncoderSettings:
        """These settings with what is unset taken from the profile's text encoder (repo, revision, prompt length)."""
        return self.model_copy(update={"model_id": self.model_id or profile.text_encoder.repo,
                                       "revision": self.revision or profile.text_encoder.revision,
                                       "max_length": self.max_length or profile.text_encoder.max_tokens})

    def hub_model(self, profile: ModelProfile | None = None) -> HubModel | None:
        """The pretrained text encoder (and tokenizer) these settings load for the profile (None: the tiny preset,
        built here)."""
        if self.preset == "tiny":
            return None
        spec = (profile or profile_named(None)).text_encoder
        filled = self.of_profile(profile or profile_named(None))
        return HubModel("the text encoder", filled.model_id, filled.revision, spec.subfolder, TEXT_ENCODER_HINT)
