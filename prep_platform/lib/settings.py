"""Every setting of the platform, with its default and its meaning, written once. The Dagster resource and the
command-line options are both generated from these fields, and both shells hand the same `PrepSettings` to the
pipeline, so a default cannot differ between them.

Each field can also be set with the environment variable `PREP_PLATFORM_<FIELD NAME IN CAPITALS>` (e.g.
`PREP_PLATFORM_FRAME_SIZE=720x480`); a few have a shorter historic name (ENV_ALIASES).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.model_settings import TextEncoderSettings, VaeSettings
from prep_platform.lib.setting_rules import (  # SettingsError: defined there, imported from here by its users
    SETTINGS_CONFIG, Name, OptionalName, OptionalRepoPath, OptionalText, OptionalUrl, RepoPath, SettingsError, Text,
    one_of,
)
from prep_platform.lib.sources.msr_vtt_release import DEFAULT_ANNOTATION_FILE, DEFAULT_REPO_ID, DEFAULT_VIDEOS_ARCHIVE
from prep_platform.lib.frame_config import (
    DETECTORS, MAX_WINDOWS_PER_CLIP, UNCLEAN_WINDOW_CHOICES, WINDOW_POLICIES, ShotSettings,
)
from prep_platform.lib.frame_config import FrameConfig, min_window_duration, parse_size
from prep_platform.lib.profiles import DEFAULT_PROFILE, PROFILES, ModelProfile, profile_named

ENV_PREFIX = "PREP_PLATFORM_"
def env_variable(name: str, aliases: Mapping[str, str] | None = None) -> str:
    """The PREP_PLATFORM_* variable of a setting (PREP_PLATFORM_<NAME>, or its alias)."""
    return (aliases or {}).get(name, ENV_PREFIX + name.upper())


def env_values(names, environ: Mapping[str, str], aliases: Mapping[str, str] | None = None, *,
               nested: Mapping[str, type[BaseModel]] | None = None) -> dict:
    """name -> the text of its PREP_PLATFORM_* variable, for each of `names` whose variable is set and not empty:
    how the run settings (PrepSettings) and the deployment settings (lib.deployment) read the environment. A
    `nested` settings model (e.g. vae) reads PREP_PLATFORM_<NAME>_<FIELD> into a dict of its own."""
    values: dict = {name: environ[env_variable(name, aliases)] for name in names
                    if name not in (nested or {}) and environ.get(env_variable(name, aliases))}
    for name, model in (nested or {}).items():
        inner = {field: environ[variable] for field in model.model_fields
                 if environ.get(variable := env_variable(f"{name}_{field}"))}
        if inner:
            values[name] = inner
    return values


ENV_ALIASES = {
    "vatex_repo_id": "PREP_PLATFORM_VATEX_REPO",
    "vatex_video_repo_id": "PREP_PLATFORM_VATEX_VIDEO_REPO",
    "scenarios_file": "PREP_PLATFORM_SCENARIOS",  # also what the code location's scenario partitions are read from
}
SAMPLE = "sample"
# The demo (the embedded sample on CPU) keeps the profile's real temporal geometry (49 frames at 8 fps for
# CogVideoX) at a small frame (the profile's demo_size): the tiny VAE still costs ~30 s per 49x480x720 window on two
# CPU cores.
DEMO_FRAME_SIZE = "x".join(map(str, profile_named(None).demo_size))
# The deployment's profiles (lib.deployment): PREP_PLATFORM_PROFILE named one before it named the model profile,
# and such a value is still read as the deployment (its own variable is PREP_PLATFORM_DEPLOYMENT).
DEPLOYMENT_PROFILES = ("local", "distributed", "kubernetes")
FREE_SPACE_RESERVE_GB = 60.0
DEMO_FREE_SPACE_RESERVE_GB = 1.0  # the demo writes a few MB: a laptop with 40 GB free must not see a WARN
SPLIT_CHOICES = ("train", "validation", "all")
# The VATEX splits (lib.sources.vatex.ANNOTATION_FILES's keys; a test keeps them equal): that module pulls the Hub
# client and the video probe, too heavy for every tool's settings.
VATEX_SPLITS = ("training", "validation", "public_test")


class PrepSettings(BaseModel):
    """Where the data lives, where it comes from, and how each stage runs."""

    model_config = SETTINGS_CONFIG

    data_root: Text = Field("data", description="data root; every path under it is laid out by lib.layout")
    profile: str = Field(
        DEFAULT_PROFILE, description="the model the data is prepared for (lib.profiles): its fps, frame rule, size "
        f"multiple, VAE and text encoder, and the folders its caches go to: {', '.join(PROFILES)}")
    # --- sources ---
    msr_vtt_source: Text = Field(
        "hub", description="'hub' (Hugging Face dataset repo; HF_ENDPOINT and HF_TOKEN honoured), 'sample' (the "
        "embedded offline sample) or a local folder laid out like the repo")
    msr_vtt_repo_id: Name = Field(DEFAULT_REPO_ID, description="MSR-VTT dataset repo")
    msr_vtt_revision: Name = Field("main", description="branch, tag or commit of the MSR-VTT repo")
    msr_vtt_annotation_file: RepoPath = Field(DEFAULT_ANNOTATION_FILE, description="annotation path in the repo")
    msr_vtt_videos_archive: RepoPath = Field(DEFAULT_VIDEOS_ARCHIVE, description="videos archive path in the repo")
    msr_vtt_limit: int = Field(1500, ge=0, description="MSR-VTT clips to extract (train split, then validate); 0 for all")
    min_clip_duration_s: float | None = Field(
        None, ge=0, description="seconds a raw clip needs to be usable (None: what `frames` at `fps` span)")
    hub_endpoint: OptionalUrl = Field(None, description="Hub endpoint (None: $HF_ENDPOINT or the public Hub)")
    vatex_source: OptionalText = Field(
        None, description="VATEX: 'hub', 'sample' or a local folder (None: 'sample' with the MSR-VTT sample, else 'hub')")
    vatex_repo_id: OptionalName = Field(None, description="a dataset repo holding the VATEX annotation files (hub source)")
    vatex_revision: Name = Field("main", description="branch, tag or commit of the VATEX annotation repo")
    vatex_annotation_file: OptionalRepoPath = Field(None, description="annotation path in the repo (None: the split's official name)")
    vatex_video_repo_id: OptionalName = Field(None, description="a mirror repo holding <videoID>.mp4 (None: vatex_repo_id)")
    vatex_video_revision: Name = Field("main", description="branch, tag or commit of the VATEX video mirror")
    vatex_split: Annotated[str, one_of(*VATEX_SPLITS)] = Field(
        "validation", description=f"VATEX split to fetch: {', '.join(VATEX_SPLITS)}")
    vatex_limit: int = Field(50, ge=0, description="first N VATEX clips of the split; 0 for all")
    vatex_download_videos: bool = Field(True, description="fetch the VATEX clips from the mirror")
    vatex_video_prefix: RepoPath = Field("videos/", description="folder of the clips in the VATEX mirror")
    vatex_retry_failed: bool = Field(False, description="re-attempt the VATEX clips that failed before (only those)")
    panda_sample: bool | None = Field(
        None, description="place the embedded Panda-70M sample (a CSV and four shard clips) in the Panda-70M folder "
        "(None: when the MSR-VTT source is the sample)")
    panda_subset_total: int = Field(500, ge=1, description="Panda-70M subset size")
    panda_min_matching_score: float = Field(
        0.4, ge=0.0, le=1.0, description="Panda-70M caption matching-score threshold (a caption-video similarity, 0..1)")
    # --- scenario metadata ---
    scenarios_file: OptionalText = Field(None, description="scenarios YAML (None: the packaged scenarios.yaml)")
    metadata_limit: int = Field(1500, ge=0, description="first N MSR-VTT manifest clips labelled; 0 for all")
    validation_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="validation share per scenario")
    split_seed: int = Field(0, description="split seed: same input and seed, same split")
    shard_size: int = Field(
        500, ge=1, description="clips per shard of work (a frame, latent, prompt or index step; a Dagster partition "
        "scenario.nnnn, e.g. urban.0003): 500 is ~6-9 minutes of the VAE on one H200. A clip keeps its shard while it keeps its "
        "scenario; a new size applies to clips added after")
    # --- frames and latents ---
    frame_size: str | None = Field(
        None, description="frame size, width x height, in the profile's multiple (unset: the profile's, cogvideox "
        f"720x480; {DEMO_FRAME_SIZE} on the embedded sample)")
    frames: int | None = Field(
        None, description="window length in frames, by the profile's rule (unset: the profile's; cogvideox: 8n+1, 49)")
    fps: float | None = Field(None, gt=0, description="training frame rate (unset: the profile's; cogvideox: 8)")
    pad_short: bool = Field(False, description="pad a too-short clip with its last frame (recorded) instead of skipping it")
    shot_detector: Annotated[str, one_of(*DETECTORS)] = Field(
        "combined", description="shot boundaries found while the frame stage decodes: 'combined' (PySceneDetect's "
        "adaptive rule, or its content rule on a frame that stands out 1.5x from its neighbours), 'content', "
        "'adaptive' or 'none' (no detection)")
    shot_threshold: float = Field(27.0, ge=0, description="content rule: the HSV change between frames that is a cut")
    shot_adaptive_threshold: float = Field(
        3.0, ge=0, description="adaptive rule: a cut's HSV change over the mean of the 2 frames on either side")
    shot_min_content: float = Field(15.0, ge=0, description="adaptive rule: the least HSV change of a cut")
    min_shot_s: float = Field(0.5, ge=0, description="seconds from one cut to the next, at least")
    window_policy: Annotated[str, one_of(*WINDOW_POLICIES)] = Field(
        "first", description="which shot a window is taken from: 'first' long enough, or 'longest'")
    windows_per_clip: int = Field(
        1, ge=1, le=MAX_WINDOWS_PER_CLIP, description="up to N non-overlapping windows per clip inside shots, each its "
        f"own sample (<id>__w<k>); at most {MAX_WINDOWS_PER_CLIP} (a 26-minute clip of 6.1 s windows)")
    unclean_window: Annotated[str, one_of(*UNCLEAN_WINDOW_CHOICES)] = Field(
        "drop", description="a clip with no shot long enough: 'drop' it (status no_clean_window) or 'keep' its best "
        "window, marked clean_window=false")
    splits: Annotated[str, one_of(*SPLIT_CHOICES)] = Field(
        "all", description="which metadata splits the per-scenario stages (frames, latents, prompt embeddings) "
        "prepare: train, validation or all")
    augment: bool = Field(False, description="also encode a horizontally flipped variant per clip (<id>.hflip.npz)")
    workers: int = Field(2, ge=0, description="decode worker processes (0: in-process)")
    prefetch: int = Field(4, ge=1, description="decoded clips queued ahead of the encoder")
    export_split: Annotated[str, one_of(*SPLIT_CHOICES)] = Field(
        "train", description="which split the training exports hold: train, validation or all")
    # --- checks ---
    max_failed_share: float = Field(0.2, ge=0.0, le=1.0, description="checks fail when a larger share of a stage's clips failed")
    max_no_clean_window_share: float = Field(
        0.3, ge=0.0, le=1.0, description="WARN when a larger share of a scenario's clips has no shot long enough for a window")
    storage_budget_gb: float = Field(
        6.0, gt=0, description="budget of the curated subset (clips in the metadata; a Panda-70M subset's download)")
    free_space_reserve_gb: float | None = Field(
        None, ge=0, description="WARN when less would remain free after the next materialisation (default 60 GB; 1 GB "
        "on the demo sample, which needs a few MB and must not warn on a laptop with less than 60 GB free)")
    budget_raw_gb: float = Field(40.0, gt=0, description="raw layer budget (WARN when over)")
    budget_metadata_gb: float = Field(1.0, gt=0, description="metadata layer budget (WARN when over)")
    budget_frames_gb: float = Field(10.0, gt=0, description="frames layer budget (WARN when over)")
    budget_latents_gb: float = Field(200.0, gt=0, description="latents layer budget (WARN when over)")
    budget_eval_gb: float = Field(5.0, gt=0, description="eval layer budget (WARN when over)")
    # --- the models (PREP_PLATFORM_VAE_<FIELD>, PREP_PLATFORM_TEXT_ENCODER_<FIELD>) ---
    vae: VaeSettings = Field(default_factory=VaeSettings, description="the VAE of the latent stage")
    text_encoder: TextEncoderSettings = Field(default_factory=TextEncoderSettings,
                                              description="the text encoder of the prompt embeddings")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        return profile_named(value).name

    @field_validator("frames")
    @classmethod
    def _frames_by_the_profile(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and "profile" in info.data:  # (an unknown profile is refused on its own field)
            profile_named(info.data["profile"]).check_frames(value)
        return value

    @field_validator("frame_size")
    @classmethod
    def _size_by_the_profile(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            width, height = parse_size(value)
            if "profile" in info.data:
                profile_named(info.data["profile"]).check_size(width, height)
        return value

    @classmethod
    def from_env(cls, *, default_source: str = "hub", environ: Mapping[str, str] | None = None, **explicit) -> PrepSettings:
        """Defaults, then PREP_PLATFORM_* variables, then `explicit` values. With the sample source, the frame size
        defaults to the demo's small frame (DEMO_FRAME_SIZE) unless set."""
        from_environment = env_values(cls.model_fields, os.environ if environ is None else environ, ENV_ALIASES,
                                      nested=NESTED_SETTINGS)
        if from_environment.get("profile") in DEPLOYMENT_PROFILES:  # the deployment's, by its older name
            del from_environment["profile"]
        values = dict(from_environment)
        values.setdefault("msr_vtt_source", default_source)
        values.update({k: v for k, v in explicit.items() if v is not None})
        profile = PROFILES.get(values.get("profile", DEFAULT_PROFILE))  # (an unknown one is refused below)
        if values["msr_vtt_source"] == SAMPLE and "frame_size" not in values and profile is not None:
            values["frame_size"] = "x".join(map(str, profile.demo_size))
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(env_error_line(exc, from_environment, explicit, aliases=ENV_ALIASES)) from None

    def check_local_sources(self) -> None:
        """A source that names a folder which is not there, refused now in one line naming its variable (the main job
        calls it before its first run). Not a field rule: the code location may be loaded where the data is not."""
        for name in ("msr_vtt_source", "vatex_source"):
            value = getattr(self, name)
            if value not in (None, "hub", SAMPLE) and not Path(value).is_dir():
                raise SettingsError(f"{env_variable(name, ENV_ALIASES)}={value!r}: not 'hub', 'sample' or an existing folder")

    def with_values(self, **values) -> PrepSettings:
        """A copy with the given fields changed (None leaves a field as it is), validated like the original. A
        nested model's fields are changed one by one: `vae={"batch_size": 4}` keeps the VAE's other settings."""
        current = self.model_dump()
        for name, value in values.items():
            if value is None:
                continue
            current[name] = {**current[name], **value} if name in NESTED_SETTINGS and isinstance(value, Mapping) else value
        return self.model_validate(current)

    # --- what the stages take ---
    def model(self) -> ModelProfile:
        """The model profile the data is prepared for."""
        return profile_named(self.profile)

    def frame_config(self) -> FrameConfig:
        width, height = parse_size(self.frame_size) if self.frame_size else (None, None)
        return FrameConfig(fps=self.fps, width=width, height=height, frames=self.frames, pad_short=self.pad_short,
                           profile=self.profile)

    def shot_settings(self) -> ShotSettings:
        return ShotSettings(detector=self.shot_detector, threshold=self.shot_threshold,
                            adaptive_threshold=self.shot_adaptive_threshold, min_content=self.shot_min_content,
                            min_shot_s=self.min_shot_s, window_policy=self.window_policy,
                            windows_per_clip=self.windows_per_clip, unclean_window=self.unclean_window)

    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_root), self.frame_config())

    def clip_duration_needed_s(self) -> float:
        """What a raw clip needs to hold one training window (or the explicit setting)."""
        if self.min_clip_duration_s is not None:
            return self.min_clip_duration_s
        config = self.frame_config()
        return min_window_duration(config.frames, config.fps)

    def split_names(self) -> tuple[str, ...]:
        return split_names(self.splits)

    def resolved_vatex_source(self) -> str:
        return self.vatex_source or (SAMPLE if self.msr_vtt_source == SAMPLE else "hub")

    def export_split_names(self) -> tuple[str, ...]:
        return split_names(self.export_split)

    def runs_on_sample(self, *, by_source: bool = False) -> bool:
        """The demo: MSR-VTT comes from the embedded sample, or the data root's MSR-VTT folder was made from it
        (its download report says so), whatever the source setting of this run. `by_source`: the source alone
        decides, for a shell that downloads before it encodes (the main job, the code location): `hub` on a data root
        made from the sample encodes real data once its download ran."""
        if self.msr_vtt_source == SAMPLE:
            return True
        if by_source:
            return False
        try:
            report = json.loads(self.layout().msr_vtt.report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(report, dict) and (report.get("provenance") or {}).get("source") == SAMPLE

    def free_space_reserve(self) -> float:
        """GB to keep free after the next materialisation: the setting, else 60 GB for real data and 1 GB on the demo."""
        if self.free_space_reserve_gb is not None:
            return self.free_space_reserve_gb
        return DEMO_FREE_SPACE_RESERVE_GB if self.runs_on_sample() else FREE_SPACE_RESERVE_GB

    def text_encoder_preset(self, *, by_source: bool = False) -> str:
        """The text encoder's preset when set (also by PREP_PLATFORM_TEXT_ENCODER_PRESET); else the tiny T5 on the
        demo's data (runs_on_sample) unless a model is named, the model's own text encoder otherwise."""
        return self.text_encoder_settings(by_source=by_source).preset

    def text_encoder_settings(self, *, by_source: bool = False) -> TextEncoderSettings:
        """The text encoder's settings with its preset decided."""
        return self.text_encoder.decided(demo=self.runs_on_sample(by_source=by_source))

    def places_panda_sample(self) -> bool:
        return self.panda_sample if self.panda_sample is not None else self.msr_vtt_source == SAMPLE

    def vae_preset(self, *, by_source: bool = False) -> str:
        """The VAE's preset when set (also by PREP_PLATFORM_VAE_PRESET); else the demo's data (runs_on_sample) is
        encoded with the tiny VAE on CPU, unless a model is named, and real data with the pretrained one."""
        return self.vae_settings(by_source=by_source).preset

    def vae_settings(self, *, by_source: bool = False) -> VaeSettings:
        """The VAE's settings with its preset decided."""
        return self.vae.decided(demo=self.runs_on_sample(by_source=by_source))


# Settings models nested in PrepSettings: each is a field holding the model's settings, read from
# PREP_PLATFORM_<NAME>_<FIELD> and given to its tool's options and its Dagster resource field by field.
NESTED_SETTINGS: dict[str, type[BaseModel]] = {"vae": VaeSettings, "text_encoder": TextEncoderSettings}


def env_error_line(error: ValidationError, from_environment: Mapping, explicit: Mapping | None = None, *,
                   aliases: Mapping[str, str] | None = None) -> str:
    """The first problem of validating settings read by env_values, as one line naming where the value came from:
    the variable (PREP_PLATFORM_WORKERS='-1': ...) or, for a value given explicitly, the setting. The run settings
    and the deployment settings (lib.deployment) both report through it."""
    explicit = explicit or {}
    first = error.errors()[0]
    where = [str(part) for part in first["loc"]]
    message = first["msg"].removeprefix("Value error, ")
    if not where:
        return f"settings: {message}"
    name = "_".join(where[:2]) if where[0] in NESTED_SETTINGS else where[0]
    came_from_env = where[0] in from_environment and where[0] not in explicit
    label = env_variable(name, aliases) if came_from_env else f"setting {'.'.join(where[:2])}"
    return f"{label}={first.get('input')!r}: {message}"


def split_names(value: str) -> tuple[str, ...]:
    """`train`, `validation` or `all` -> the metadata splits it names."""
    if value == "all":
        return ("train", "validation")
    if value not in ("train", "validation"):
        raise ValueError(f"a split setting must be train, validation or all, got {value!r}")
    return (value,)
