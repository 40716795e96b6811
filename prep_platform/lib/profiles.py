"""Model profiles as data: what a model decides about a training sample (frame rate, frame-count rule, size
multiple), which VAE and text encoder prepare it (and their tiny variants for the demo and the tests), how its
latents are normalised, and which export formats serve it. Adding a model is adding a profile here: the frame,
latent and prompt stages read these facts and name no model. Imports nothing heavy (no torch, no diffusers).

The table to grow into (issue 29): Wan2.1/2.2 (16 fps, 4n+1, per-channel mean/std, umT5 512), HunyuanVideo 1.5
(24 fps, 4n+1, 32 channels at 16x), LTX-2 (24 fps, 8n+1, multiples of 32, 128 channels at 32x8).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_PROFILE = "cogvideox"


class ProfileRuleError(ValueError):
    """A frame count or size the profile's model cannot take: one line naming the rule and the nearest values."""


@dataclass(frozen=True)
class Normalisation:
    """How a trainer turns the VAE's posterior into the latents it trains on. `scaling`: multiply by the VAE
    config's `scaling_factor`; `per_channel`: (mu - latents_mean) / latents_std from the VAE config."""

    kind: str  # "scaling" or "per_channel"
    # CogVideoX 1.5's I2V pipeline divides the image latents by the factor instead of multiplying (the VAE config's
    # invert_scale_latents): its authors trained that way.
    invert_image_latents: bool = False


@dataclass(frozen=True)
class VaeSpec:
    """The VAE as diffusers builds it: `model_class` from `repo`/`subfolder` at `revision`, or from its class
    defaults with `tiny_config` (the demo and the tests: random weights, CPU) or `full_config` (full size, random
    weights: GPU benchmarks without a download) laid over them."""

    model_class: str
    repo: str
    revision: str
    subfolder: str
    latent_channels: int
    temporal_ratio: int
    spatial_ratio: int
    normalisation: Normalisation
    tiny_config: Mapping = field(default_factory=dict)
    full_config: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class TextEncoderSpec:
    """The text encoder and its tokenizer as transformers loads them, and the prompt length the trainer pads and
    truncates to. `tiny_config`: the same class at a tiny size (random weights) with the offline tokenizer."""

    model_class: str
    repo: str
    revision: str
    subfolder: str
    tokenizer_subfolder: str
    max_tokens: int
    tiny_config: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class ModelProfile:
    name: str
    title: str
    fps: float
    frame_step: int  # frame counts are frame_step * n + 1 (the VAE's temporal compression, or the model's rule)
    default_frames: int
    default_size: tuple[int, int]  # width, height
    size_multiple: int  # the VAE's spatial ratio times the transformer's patch size
    # The embedded sample's frame on CPU, within the rules: the tiny VAE's time goes to its full-resolution blocks,
    # in proportion to the frame's area (the README main job: 240x160 spent 72 of its 143 s in conv3d).
    demo_size: tuple[int, int]
    vae: VaeSpec
    text_encoder: TextEncoderSpec
    export_formats: tuple[str, ...]

    def frame_rule(self) -> str:
        return f"{self.frame_step}n+1"

    def check_frames(self, frames: int) -> int:
        """`frames` when the model takes it, else ProfileRuleError naming the rule and the two nearest counts."""
        if frames >= 1 and (frames - 1) % self.frame_step == 0:
            return frames
        below = max(1, (frames - 1) // self.frame_step * self.frame_step + 1)
        above = below + self.frame_step
        nearest = f"{below} or {above}" if below < frames else f"{above}"
        raise ProfileRuleError(f"{self.name} needs {self.frame_rule()} frames: {frames} is not; {nearest}")

    def check_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) when both are positive multiples of the model's size multiple, else ProfileRuleError
        naming the rule and the sizes rounded down and up."""
        step = self.size_multiple
        if width > 0 and height > 0 and width % step == 0 and height % step == 0:
            return width, height

        def down(value: int) -> int:
            return max(step, value // step * step)

        def up(value: int) -> int:
            return max(step, -(-value // step) * step)

        sizes = dict.fromkeys((f"{down(width)}x{down(height)}", f"{up(width)}x{up(height)}"))
        raise ProfileRuleError(f"{self.name} needs a width and height in multiples of {step}: {width}x{height} is "
                               f"not; {' or '.join(sizes)}")


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


# The tiny T5 both CogVideoX profiles test with: the real class at a size a CPU runs in milliseconds.
TINY_T5 = _frozen({"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4,
                   "relative_attention_num_buckets": 8, "dropout_rate": 0.0})
# The tiny CogVideoX VAE: four blocks keep the real 8x spatial ratio (2 ** (blocks - 1)) and the 4x temporal one.
# The first block, which runs at full resolution, is the narrowest: 4 channels there halve the CPU time of a window
# (49x160x240: 5.5 s -> 3.0 s on two cores) against 8, the cost of the demo's and the tests' latent stage.
TINY_COGVIDEOX_VAE = {"block_out_channels": (4, 8, 8, 8), "latent_channels": 4, "layers_per_block": 1,
                      "norm_num_groups": 2}
COGVIDEOX_EXPORTS = ("cogvideox-factory", "cogvideo-finetune", "finetrainers", "diffusers-videos")

COGVIDEOX = ModelProfile(
    name="cogvideox", title="CogVideoX 1.0 (2B/5B, I2V)", fps=8.0, frame_step=8, default_frames=49,
    default_size=(720, 480), size_multiple=16, demo_size=(144, 96),
    vae=VaeSpec(
        model_class="AutoencoderKLCogVideoX", repo="THUDM/CogVideoX-5b-I2V", revision="main", subfolder="vae",
        latent_channels=16, temporal_ratio=4, spatial_ratio=8, normalisation=Normalisation("scaling"),
        tiny_config=_frozen(TINY_COGVIDEOX_VAE), full_config=_frozen({"scaling_factor": 1.15258426})),
    text_encoder=TextEncoderSpec(
        model_class="T5EncoderModel", repo="THUDM/CogVideoX-5b-I2V", revision="main", subfolder="text_encoder",
        tokenizer_subfolder="tokenizer", max_tokens=226, tiny_config=TINY_T5),
    export_formats=COGVIDEOX_EXPORTS,
)

# CogVideoX 1.5: the same VAE class with its own scaling (0.7, image latents divided by it), 16 fps and 16n+1 frames
# (the transformer packs two latent frames per patch: 1 + 4 * 2n frames).
COGVIDEOX_1_5 = ModelProfile(
    name="cogvideox1.5", title="CogVideoX 1.5 (5B, I2V)", fps=16.0, frame_step=16, default_frames=81,
    default_size=(1360, 768), size_multiple=16, demo_size=(144, 96),
    vae=VaeSpec(
        model_class="AutoencoderKLCogVideoX", repo="THUDM/CogVideoX1.5-5B-I2V", revision="main", subfolder="vae",
        latent_channels=16, temporal_ratio=4, spatial_ratio=8,
        normalisation=Normalisation("scaling", invert_image_latents=True),
        tiny_config=_frozen({**TINY_COGVIDEOX_VAE, "scaling_factor": 0.7, "invert_scale_latents": True}),
        full_config=_frozen({"scaling_factor": 0.7, "invert_scale_latents": True})),
    text_encoder=TextEncoderSpec(
        model_class="T5EncoderModel", repo="THUDM/CogVideoX1.5-5B-I2V", revision="main", subfolder="text_encoder",
        tokenizer_subfolder="tokenizer", max_tokens=226, tiny_config=TINY_T5),
    export_formats=COGVIDEOX_EXPORTS,
)

PROFILES: Mapping[str, ModelProfile] = _frozen({profile.name: profile for profile in (COGVIDEOX, COGVIDEOX_1_5)})


def profile_named(name: str | None) -> ModelProfile:
    """The profile called `name` (None: the default), else one line listing the profiles (and the closest)."""
    if name is None:
        return PROFILES[DEFAULT_PROFILE]
    try:
        return PROFILES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(PROFILES), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ProfileRuleError(f"unknown model profile {name!r}{hint} (choose one of {', '.join(PROFILES)})") from None
