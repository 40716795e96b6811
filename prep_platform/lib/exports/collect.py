"""The samples of an export: one per sample (a window of a clip) x augmentation x prompt variant, each with a stem
every trainer can use (dot-free, unique across scenarios) and the facts its latent file's header records. Frame
size, image folder and latent grid come from the data (the training index and the latent headers), never from
the settings, so a user exports whatever size they prepared. The samples are listed in a seeded order that keeps
the samples of one clip apart (the latent trainers read in file order)."""

from __future__ import annotations

import heapq
import json
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prep_platform.lib.currency import Derivation, fingerprint_of
from prep_platform.lib.exports.files import png_size
from prep_platform.lib.files.latent_file import read_latent_header
from prep_platform.lib.files.prompt_embedding_file import prompt_sha256
from prep_platform.lib.layout import DataLayout, sample_id_of
from prep_platform.lib.scenarios import normalize_prompt
from prep_platform.lib.frame_config import frame_tag
from prep_platform.lib.profiles import DEFAULT_PROFILE


class ExportError(ValueError):
    """The inputs cannot make a sound export (mixed VAEs or frame configurations, missing prompt embeddings,
    colliding stems, an image that does not match its latent): the message names the files."""


# Header facts copied into export.json for every stem (never taken from a constant).
HEADER_FACTS = ("profile", "model_id", "revision", "normalisation", "scaling_factor", "invert_scale_latents", "latent_channels", "frames", "fps",
                "width", "height", "temporal_compression_ratio", "spatial_compression_ratio", "vae_fingerprint",
                "frame_config_fingerprint", "config_fingerprint", "source_fingerprint", "window_start_s",
                "window_end_s", "window_index", "shot", "clean_window", "source_path", "stored_dtype", "format_version")
# What every sample of one export must share: a trainer runs one VAE at one scale on one frame geometry.
SHARED_FACTS = ("profile", "vae_fingerprint", "frame_config_fingerprint", "model_id", "scaling_factor", "invert_scale_latents",
                "latent_channels", "frames", "fps", "width", "height")
# Samples of one clip kept at least this many lines apart where the clips allow it (a batch of 4 never holds two).
SPREAD = 4


@dataclass(frozen=True)
class ExportSample:
    stem: str
    scenario: str
    video_id: str  # the clip
    sample_id: str  # its window: the clip's id, or <id>__w<k>
    split: str
    augmentation: str  # none | hflip
    prompt_variant: int  # 0: the caption
    prompt: str
    prompt_sha256: str
    prompt_embedding: str  # the stored embedding file ("" when the format needs none)
    latent_path: str
    image_path: str  # the conditioning PNG (of the unflipped window), in the folder of the latent's frame config
    header: dict

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "stem"}


@dataclass
class CollectedSamples:
    samples: list[ExportSample]
    left_out: list[dict] = field(default_factory=list)  # {"sample", "reason"}: never dropped without a record


def stem_for(scenario: str, sample_id: str, augmentation: str, prompt_variant: int) -> str:
    """`urban__video7`, `urban__video7__w1`, `urban__video7__hflip`, `urban__video7__p2`: the sample's name (lib.layout
    sample_id), no dots (cogvideox-factory cuts a stem at its first dot), the scenario first so stems stay unique
    across scenarios."""
    stem = f"{scenario}__{sample_id.replace('.', '-')}"
    if augmentation != "none":
        stem += f"__{augmentation}"
    if prompt_variant:
        stem += f"__p{prompt_variant}"
    return stem


def image_for(layout: DataLayout, scenario: str, sample: str, header: dict) -> Path:
    """The conditioning image the frame stage wrote for the configuration this latent was encoded with."""
    tag = frame_tag(header["width"], header["height"], header["frames"], header["fps"], header["frame_config_fingerprint"],
                    header.get("profile") or DEFAULT_PROFILE)
    return layout.image(scenario, sample, tag)


def collect_samples(layout: DataLayout, index_rows: dict[str, list[dict]], prompt_manifests: dict[str, dict | None], *,
                    splits: tuple[str, ...], need_embeddings: bool, need_images: bool = False) -> CollectedSamples:
    """`index_rows`: scenario -> its training index rows; `prompt_manifests`: scenario -> its prompt stage manifest.
    Every file is located by the layout (a data root copied elsewhere still exports), never by a path a manifest
    recorded. A prompt that is empty after normalisation is left out with its reason (a blank line would pair every
    later prompt with the wrong video). Refuses (ExportError) mixed VAEs or frame configurations, missing prompt
    embeddings, colliding stems and (where the format ships images) an image that does not match its latent."""
    samples: list[ExportSample] = []
    left_out: list[dict] = []
    missing_prompts: list[str] = []
    for scenario, rows in sorted(index_rows.items()):
        manifest = prompt_manifests.get(scenario) or {"prompts": [], "encoder": {"tag": ""}}
        encoder_tag = manifest["encoder"]["tag"]
        embeddings = {(row["video_id"], row["variant"]): row for row in manifest["prompts"] if row["status"] in ("encoded", "skipped")}
        for row in rows:
            if row["split"] not in splits:
                continue
            sample = sample_id_of(row)
            for augmentation in ["none", *sorted(row.get("augmentations", {}))]:
                latent_path = layout.latent(scenario, sample, augmentation)
                latent_header = read_latent_header(latent_path)
                if latent_header is None:
                    raise ExportError(f"{latent_path}: unreadable latent file (listed in the training index of {scenario})")
                header = latent_header.facts(HEADER_FACTS)
                image_path = image_for(layout, scenario, sample, header)
                if need_images and augmentation == "none":
                    _check_image(image_path, latent_path, header)
                for index, raw_prompt in enumerate(row["prompt_variants"]):
                    prompt = normalize_prompt(raw_prompt) if isinstance(raw_prompt, str) else ""
                    if not prompt:
                        left_out.append({"sample": f"{scenario}/{sample}", "augmentation": augmentation, "prompt_variant": index,
                                         "reason": "empty_caption: the prompt is empty or whitespace only "
                                                   f"({layout.training_index(scenario, row.get('shard', 0))})"})
                        continue
                    sha = prompt_sha256(raw_prompt)
                    embedding = embeddings.get((row["video_id"], index))
                    if need_embeddings and (embedding is None or embedding["prompt_sha256"] != sha):
                        missing_prompts.append(f"{scenario}/{row['video_id']} prompt {index}")
                        continue
                    samples.append(ExportSample(
                        stem=stem_for(scenario, sample, augmentation, index), scenario=scenario,
                        video_id=row["video_id"], sample_id=sample, split=row["split"], augmentation=augmentation,
                        prompt_variant=index, prompt=prompt, prompt_sha256=sha,
                        prompt_embedding=str(layout.prompt_embedding(encoder_tag, sha)) if embedding else "",
                        latent_path=str(latent_path), image_path=str(image_path),
                        header=header,
                    ))
    if missing_prompts:
        raise ExportError(f"{len(missing_prompts)} prompt(s) have no current embedding (first: {missing_prompts[0]}): "
                          f"run encode_prompts (the prompt_embeddings asset) for these scenarios first")
    _refuse_mixed(samples)
    seen: dict[str, ExportSample] = {}
    for sample in samples:
        if sample.stem in seen:
            other = seen[sample.stem]
            raise ExportError(f"stem {sample.stem!r} is shared by {other.latent_path} and {sample.latent_path}: "
                              f"rename one of the clips")
        seen[sample.stem] = sample
    return CollectedSamples(samples, left_out)


def _check_image(image_path: Path, latent_path: Path, header: dict) -> None:
    size = png_size(image_path)
    if size is None:
        raise ExportError(f"{image_path}: the conditioning image of {latent_path} is missing or not a PNG: run the "
                          f"frame stage at {header['width']}x{header['height']}x{header['frames']} again")
    if size != (header["width"], header["height"]):
        raise ExportError(f"{image_path} is {size[0]}x{size[1]} but its latent {latent_path} was encoded at "
                          f"{header['width']}x{header['height']}: prepare frames and latents at one size")


def _refuse_mixed(samples: list[ExportSample]) -> None:
    """One VAE, one scale and one frame configuration per export: a trainer cannot mix them in one run."""
    for key in SHARED_FACTS:
        first: dict[str, ExportSample] = {}
        for sample in samples:
            first.setdefault(json.dumps(sample.header.get(key)), sample)
        if len(first) > 1:
            a, b = list(first.values())[:2]
            raise ExportError(f"the latents differ in {key}: {a.latent_path} ({a.header.get(key)}, {a.header['model_id']}, "
                              f"{a.header['width']}x{a.header['height']}x{a.header['frames']}) vs {b.latent_path} "
                              f"({b.header.get(key)}, {b.header['model_id']}, {b.header['width']}x{b.header['height']}x"
                              f"{b.header['frames']}): export one configuration at a time (--scenario)")


def spread_order(samples: list[ExportSample], seed: int) -> list[ExportSample]:
    """The samples in a seeded shuffled order in which the samples of one clip (its windows, flips and prompt
    variants) stand at least SPREAD lines apart wherever the clips allow it: at each line the clip with the most
    samples left among those not used in the last SPREAD - 1 lines (ties broken by the seed), which is the order
    that keeps the most room. With too few clips, the rest follow as evenly as they can."""
    rng = random.Random(seed)
    by_clip: dict[tuple[str, str], list[ExportSample]] = defaultdict(list)
    for sample in samples:
        by_clip[(sample.scenario, sample.video_id)].append(sample)
    clips = list(by_clip)
    rng.shuffle(clips)
    for clip in clips:
        rng.shuffle(by_clip[clip])
    tiebreak = {clip: rng.random() for clip in clips}
    ready = [(-len(by_clip[clip]), tiebreak[clip], clip) for clip in clips]
    heapq.heapify(ready)
    cooling: list[tuple[tuple[str, str], int]] = []  # (clip, the line after which it may come again)
    ordered: list[ExportSample] = []
    while ready or cooling:
        line = len(ordered)
        while cooling and cooling[0][1] <= line:
            clip, _ = cooling.pop(0)
            heapq.heappush(ready, (-len(by_clip[clip]), tiebreak[clip], clip))
        if ready:
            _, _, clip = heapq.heappop(ready)
        else:  # every clip left was used in the last SPREAD - 1 lines: take the one that has waited longest
            clip, _ = cooling.pop(0)
        ordered.append(by_clip[clip].pop())
        if by_clip[clip]:
            cooling.append((clip, line + SPREAD))
    return ordered


def export_derivation(export_format: str, format_version: int, samples: list[ExportSample], options: dict) -> Derivation:
    """What an export is made from (its samples: stems, prompts, the latent caches' configuration and source, the
    embedding files), with (the format and its options, the output folder among them) and in (the export format's
    version): lib.currency. While it is the one the export records, a re-run writes nothing."""
    made_of = [(s.stem, s.prompt_sha256, s.header["config_fingerprint"], s.header["source_fingerprint"],
                "/".join(Path(s.prompt_embedding).parts[-2:]) if s.prompt_embedding else "") for s in samples]
    return Derivation({"samples": fingerprint_of(made_of, length=24)}, fingerprint_of([export_format, options]),
                      format_version)
