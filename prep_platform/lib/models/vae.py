"""The model profile's VAE (lib.profiles: a diffusers class, its repo, its tiny and full-size configs) as an encoder of
uint8 frame batches: presets, device and dtype, tiling and slicing, and the GPU defaults (torch.compile with its
caches under the data root, the batch size from free GPU memory).

The weights load lazily (`load`, or the first `encode`): the encoder's identity, which decides whether a cache is
current, comes from the model's whole config (hashed: any change makes old caches stale) and revision alone, so a run whose caches are all current loads no model and allocates
no GPU memory, and a run with work starts its decode workers before the model loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING

import numpy as np
from prep_platform.lib.models.hub_models import load_pretrained
from prep_platform.lib.models.model_settings import DEFAULT_MODEL_ID, VAE_PRESETS, VaeSettings  # noqa: F401 (re-exported)
from prep_platform.lib.layout import compile_cache_folders
from prep_platform.lib.profiles import ModelProfile, profile_named
from prep_platform.lib.sample import EncodedWith

if TYPE_CHECKING:  # annotations only: torch is imported where a model runs or a tensor is written
    import torch

TINY_CONFIG = dict(profile_named(None).vae.tiny_config)  # the default profile's tiny VAE (tests read its facts)
PRESETS = VAE_PRESETS
BUILT_HERE = ("tiny", "random_full")  # presets built from a config with random weights: nothing to download


def resolve_device(name: str) -> torch.device:
    import torch  # here, not at the top: a process that encodes nothing (a download, the metadata, a check) never pays for it
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    import torch

    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                "float16": torch.float16, "fp16": torch.float16}[name]
    except KeyError as exc:
        raise ValueError(f"unknown dtype {name!r}; use float32, bfloat16 or float16") from exc


def vae_class(profile: ModelProfile):
    """The profile's diffusers VAE class (imported here only: diffusers is heavy)."""
    import diffusers

    return getattr(diffusers, profile.vae.model_class)


def vae_config(settings: VaeSettings, profile: ModelProfile | None = None) -> dict:
    """The VAE's config without its weights: what the encoder will be built from (the preset's config from the
    profile on the class defaults, or the pretrained model's config.json). Facts such as the latent channel count
    come from here, never from a guess."""
    profile = profile or profile_named(None)
    if settings.preset in BUILT_HERE:
        overrides = profile.vae.tiny_config if settings.preset == "tiny" else profile.vae.full_config
        return _class_defaults(vae_class(profile), dict(overrides))
    filled = settings.of_profile(profile)

    def load(**options) -> dict:
        # after the check: offline, the refusal comes before diffusers' import
        return dict(vae_class(profile).load_config(
            filled.model_id, subfolder=filled.subfolder or None, revision=filled.revision, **options))

    return load_pretrained(settings.hub_model(profile), load)


def config_sha256(config: dict) -> str:
    """The whole config as a hash: diffusers' bookkeeping keys (`_diffusers_version`, `_name_or_path`, ...) left
    out, since they change with no change to the model."""
    model_keys = {key: value for key, value in config.items() if not key.startswith("_")}
    return hashlib.sha256(json.dumps(model_keys, sort_keys=True, default=str).encode()).hexdigest()


def _class_defaults(model_class, overrides: dict) -> dict:
    import inspect

    defaults = {name: parameter.default for name, parameter in inspect.signature(model_class.__init__).parameters.items()
                if name != "self" and parameter.default is not inspect.Parameter.empty}
    return {**defaults, **overrides}


def latent_channels(settings: VaeSettings, profile: ModelProfile | None = None) -> int:
    return int(vae_config(settings, profile)["latent_channels"])


GIB = 2**30
# Measured on an H200, bf16, 49x480x720 (reference/performance.md): peak GPU memory ~7.8 GiB per clip untiled
# (8.1 at batch 1, 31.6 at batch 4), 2.4 GiB tiled at batch 1. Scaled by pixels x frames for other windows.
UNTILED_GIB_PER_CLIP_49x480x720 = 7.8
REFERENCE_VOXELS = 49 * 480 * 720
MEMORY_MARGIN = 1.5  # allocator fragmentation, cuDNN workspaces, the image-latent pass, other tenants


def choose_batch(free_bytes: int, frames: int, height: int, width: int) -> tuple[int, bool, str]:
    """(batch size, tiling, why) for the untiled encoder on a GPU with `free_bytes` free: 4 where it fits with the
    margin, else 2, else the tiled path at batch 1 (~2.4 GiB: any 24 GB card; compiled it is as fast as the plain
    untiled batch 4)."""
    per_clip = UNTILED_GIB_PER_CLIP_49x480x720 * frames * height * width / REFERENCE_VOXELS
    free = free_bytes / GIB
    for batch in (4, 2):
        if batch * per_clip * MEMORY_MARGIN + 1.0 <= free:
            return batch, False, f"auto: batch {batch} ({free:.1f} GiB free, ~{per_clip:.1f} GiB per clip untiled)"
    return 1, True, f"auto: tiled batch 1 ({free:.1f} GiB free < what batch 2 untiled needs, ~{per_clip:.1f} GiB per clip)"


class VaeEncoder:
    """The VAE, loaded once and only when something must be encoded; `encode` turns uint8 RGB windows into latent
    distributions and image latents."""

    loads = 0  # models built in this process (tests and benchmarks count them)

    def __init__(self, settings: VaeSettings, profile: ModelProfile | None = None):
        """`profile`: the model profile whose VAE this is (None: the default, cogvideox)."""
        self.profile = profile or profile_named(None)
        self.settings = settings.resolved().of_profile(self.profile)
        self.device = resolve_device(self.settings.device)
        self.dtype = resolve_dtype(self.settings.dtype, self.device)
        if self.settings.preset in BUILT_HERE:
            self.model_id = f"{self.settings.preset}-random-{self.profile.name}-vae(seed=0)"
            self.revision = "none"
        else:
            self.model_id, self.revision = self.settings.model_id, self.settings.revision
        # The model's identity without its weights: fixed here, so a loaded model never changes a cache's verdict.
        self.config = vae_config(settings.resolved(), self.profile)
        self.config_sha256 = config_sha256(self.config)
        cuda = self.device.type == "cuda"
        self.compiled = self.settings.compile if self.settings.compile is not None else cuda
        self.tiling, self.slicing = self.settings.tiling, self.settings.slicing
        self.batch_size = self.settings.batch_size or 1
        self.batch_choice = "explicit" if self.settings.batch_size else ("auto: batch 1 on CPU" if not cuda else "")
        self.load_seconds: float | None = None
        self.vae = None

    @property
    def loaded(self) -> bool:
        return self.vae is not None

    def plan_batch(self, frames: int, height: int, width: int) -> int:
        """The batch size for windows of this size: explicit, 1 on CPU, or chosen from the GPU's free memory
        (before the model is on it) with tiling where even batch 2 does not fit. Recorded in `batch_choice`."""
        if self.settings.batch_size or self.device.type != "cuda" or self.batch_choice:
            return self.batch_size
        import torch

        free, _ = torch.cuda.mem_get_info(self.device)
        self.batch_size, tiled, self.batch_choice = choose_batch(free, frames, height, width)
        self.tiling = self.tiling or tiled
        return self.batch_size

    def load(self, compile_cache_dir: str | None = None) -> None:
        """Build the model (once). `compile_cache_dir`: where torch.compile keeps its FX-graph, inductor and Triton
        caches (the data root's cache/torch), so the next process finds its compiled kernels instead of paying
        the ~1 min compile again."""
        if self.vae is not None:
            return
        import torch

        model_class = vae_class(self.profile)  # heavy import, only where a VAE is really built

        started = time.perf_counter()
        if self.settings.preset in BUILT_HERE:
            torch.manual_seed(0)  # the same random weights every time: caches stay valid across runs
            vae = model_class.from_config(self.config)
            if self.dtype != torch.float32:
                vae = vae.to(dtype=self.dtype)
        else:
            vae = load_pretrained(self.settings.hub_model(self.profile), lambda **options: model_class.from_pretrained(
                self.settings.model_id, subfolder=self.settings.subfolder or None, revision=self.settings.revision,
                torch_dtype=self.dtype, **options))
        vae = vae.to(self.device).eval().requires_grad_(False)
        if self.tiling:
            vae.enable_tiling()
        if self.slicing:
            vae.enable_slicing()
        if self.compiled:
            _use_compile_cache(compile_cache_dir)
            from torch import _dynamo

            _dynamo.config.cache_size_limit = max(_dynamo.config.cache_size_limit, 64)  # tiled shapes vary
            vae.encoder = torch.compile(vae.encoder)
        self.vae = vae
        VaeEncoder.loads += 1
        self.load_seconds = round(time.perf_counter() - started, 3)

    def run_facts(self) -> dict:
        """How this run encodes (header and run metadata; not part of the identity)."""
        return {"batch_size": self.batch_size, "batch_choice": self.batch_choice or "auto: not decided (nothing encoded)",
                "compiled": self.compiled, "tiling": self.tiling, "slicing": self.slicing, "device": str(self.device),
                "model_loaded": self.loaded, "model_load_s": self.load_seconds}

    @property
    def scaling_factor(self) -> float:
        return float(self.config.get("scaling_factor", 1.0))

    @property
    def invert_scale_latents(self) -> bool:
        return bool(self.config.get("invert_scale_latents", False))

    def identity(self) -> dict:
        """What makes two encodings comparable (goes into the cache's config fingerprint): the profile, the model
        and its revision, the whole config by its hash, and the facts a trainer reads back."""
        return {
            "profile": self.profile.name,
            "vae_class": self.profile.vae.model_class,
            "vae_config_sha256": self.config_sha256,
            "normalisation": self.profile.vae.normalisation.kind,
            "model_id": self.model_id,
            "revision": self.revision,
            "subfolder": self.settings.subfolder,
            "dtype": str(self.dtype).removeprefix("torch."),
            "scaling_factor": self.scaling_factor,
            "invert_scale_latents": self.invert_scale_latents,
            "latent_channels": int(self.config.get("latent_channels", 16)),
            # The latent grid a trainer works back from: frames (F - 1) / t + 1, pixels / s (4 and 8 for CogVideoX).
            "temporal_compression_ratio": int(self.config.get("temporal_compression_ratio", 4)),
            "spatial_compression_ratio": 2 ** (len(self.config.get("block_out_channels", (0, 0, 0, 0))) - 1),
        }

    def encoded_with(self) -> EncodedWith:
        """Its identity and how it ran, as a cache header records them (lib.sample.EncodedWith)."""
        return EncodedWith(identity=self.identity(), device=str(self.device), tiling=self.tiling, slicing=self.slicing,
                           batch_size=self.batch_size, batch_choice=self.batch_choice, compiled=self.compiled)

    def identity_fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]

    def encode(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        """windows: [B, F, H, W, 3] uint8 RGB -> float16 arrays: latent_mean / latent_logvar [B, C, T, h, w]
        and image_latents / image_logvar [B, C, 1, h, w] (the first frame encoded alone, clean: the distribution's
        mode and its log-variance)."""
        import torch

        with torch.inference_mode():
            self.load()
            count = len(windows)
            if self.compiled and count < self.batch_size:
                # A compiled encoder recompiles (~1 min) for every new input shape: the last, smaller batch is padded
                # with copies of its last window to the planned size, and the copies' outputs are dropped.
                windows = np.concatenate([windows, np.repeat(windows[-1:], self.batch_size - count, axis=0)])
            pixels = torch.from_numpy(windows).to(self.device, non_blocking=True)
            pixels = pixels.permute(0, 4, 1, 2, 3).to(self.dtype).div_(127.5).sub_(1.0)  # [B, 3, F, H, W] in [-1, 1]
            video = self.vae.encode(pixels).latent_dist
            image = self.vae.encode(pixels[:, :, :1]).latent_dist
            return {
                "latent_mean": video.mean[:count].to(torch.float16).cpu().numpy(),
                "latent_logvar": video.logvar[:count].to(torch.float16).cpu().numpy(),
                "image_latents": image.mean[:count].to(torch.float16).cpu().numpy(),
                "image_logvar": image.logvar[:count].to(torch.float16).cpu().numpy(),
            }


def _use_compile_cache(folder: str | None) -> None:
    """Point torch.compile's on-disk caches at `folder` (inductor's FX-graph cache and Triton's kernels); set
    before the first compile, read by inductor when it compiles."""
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    inductor, triton = compile_cache_folders(folder)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor))
    os.environ.setdefault("TRITON_CACHE_DIR", str(triton))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
