"""Settings shared by every asset: where the data lives and where MSR-VTT comes from."""


import os
from pathlib import Path

import dagster as dg

from prep_platform.lib.frames import FrameConfig, parse_size
from prep_platform.lib.msr_vtt_download import DEFAULT_REPO_ID
from prep_platform.lib.vae import DEFAULT_MODEL_ID, VaeEncoder, VaeSettings

# The one setting that switches the demo (embedded sample, offline, tiny VAE at a small size) to the real data
# (Hugging Face download, the pretrained VAE at 720x480): `hub`.
SOURCE_ENV = "PREP_PLATFORM_MSR_VTT_SOURCE"
DATA_ROOT_ENV = "PREP_PLATFORM_DATA_ROOT"
VAE_PRESET_ENV = "PREP_PLATFORM_VAE_PRESET"
FRAME_SIZE_ENV = "PREP_PLATFORM_FRAME_SIZE"
FRAMES_ENV = "PREP_PLATFORM_FRAMES"
# The demo keeps the real temporal geometry (49 frames at 8 fps) but a small frame: the tiny VAE still costs
# ~15 s per 49x480x720 clip on two CPU cores.
DEMO_FRAME_SIZE = "240x160"


class PrepPlatformSettings(dg.ConfigurableResource):
    """Data root and MSR-VTT source. Built from PREP_PLATFORM_* environment variables by `from_env`."""

    data_root: str = "data"
    msr_vtt_source: str = "sample"
    msr_vtt_repo_id: str = DEFAULT_REPO_ID
    msr_vtt_revision: str = "main"
    frame_size: str = "720x480"  # width x height
    frames: int = 49
    fps: float = 8.0
    pad_short: bool = False
    workers: int = 2  # decode worker processes for the frame and latent stages
    max_failed_share: float = 0.2  # checks fail when a larger share of a stage's clips failed
    vatex_source: str | None = None  # hub, sample or a folder; None: sample with the sample, else hub
    vatex_repo_id: str | None = None  # a dataset repo holding the VATEX annotation files (hub source)
    vatex_video_repo_id: str | None = None  # a mirror holding <videoID>.mp4 (default: the annotation repo)
    storage_budget_gb: float = 6.0  # the curated subset (clips in the metadata; a Panda-70M subset's download)
    free_space_reserve_gb: float = 60.0  # WARN when less would remain free after the next materialisation
    budget_raw_gb: float = 40.0  # per-layer budgets, checked against measured sizes (WARN when over)
    budget_metadata_gb: float = 1.0
    budget_frames_gb: float = 10.0
    budget_latents_gb: float = 200.0
    budget_eval_gb: float = 5.0

    @classmethod
    def from_env(cls) -> "PrepPlatformSettings":
        source = os.environ.get(SOURCE_ENV, "sample")
        default_size = DEMO_FRAME_SIZE if source == "sample" else "720x480"
        return cls(
            data_root=os.environ.get(DATA_ROOT_ENV, "data"),
            msr_vtt_source=source,
            frame_size=os.environ.get(FRAME_SIZE_ENV, default_size),
            frames=int(os.environ.get(FRAMES_ENV, "49")),
            vatex_source=os.environ.get("PREP_PLATFORM_VATEX_SOURCE") or None,
            vatex_repo_id=os.environ.get("PREP_PLATFORM_VATEX_REPO") or None,
            vatex_video_repo_id=os.environ.get("PREP_PLATFORM_VATEX_VIDEO_REPO") or None,
        )

    @property
    def vatex_dir(self) -> Path:
        return self.root / "raw" / "vatex"

    @property
    def panda_dir(self) -> Path:
        return self.root / "raw" / "panda70m"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval" / "vatex"

    def frame_config(self) -> FrameConfig:
        width, height = parse_size(self.frame_size)
        return FrameConfig(fps=self.fps, width=width, height=height, frames=self.frames, pad_short=self.pad_short)

    def frames_dir(self, scenario: str) -> Path:
        return self.root / "prepared" / "frames" / scenario

    def images_root(self) -> Path:
        return self.root / "prepared" / "images"

    def latents_root(self) -> Path:
        return self.root / "prepared" / "latents"

    @property
    def root(self) -> Path:
        return Path(self.data_root)

    @property
    def msr_vtt_dir(self) -> Path:
        return self.root / "raw" / "msr-vtt"

    @property
    def scenario_metadata_path(self) -> Path:
        return self.root / "metadata" / "scenario_metadata.json"

    @property
    def prepared_dir(self) -> str:
        return (self.root / "prepared").as_posix()


class VaeResource(dg.ConfigurableResource):
    """The CogVideoX VAE. Presets: `default` (pretrained, untiled), `low_memory` (tiling + slicing + batch 1:
    fits a 24 GB card at 49x480x720), `tiny` (same class, random weights, tiny config: the CPU demo and tests)."""

    preset: str = "default"
    model_id: str = DEFAULT_MODEL_ID  # Hub repo id or local folder
    subfolder: str = "vae"
    revision: str = "main"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 1
    tiling: bool = False
    slicing: bool = False
    compile: bool = False

    @classmethod
    def from_env(cls) -> "VaeResource":
        sample = os.environ.get(SOURCE_ENV, "sample") == "sample"
        return cls(preset=os.environ.get(VAE_PRESET_ENV, "tiny" if sample else "default"))

    def settings(self) -> VaeSettings:
        return VaeSettings(
            preset=self.preset, model_id=self.model_id, subfolder=self.subfolder, revision=self.revision,
            device=self.device, dtype=self.dtype, batch_size=self.batch_size, tiling=self.tiling,
            slicing=self.slicing, compile=self.compile,
        )

    def load(self) -> VaeEncoder:
        return VaeEncoder(self.settings())
