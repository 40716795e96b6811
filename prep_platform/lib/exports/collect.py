"""The samples of an export: one per sample (a window of a clip) x augmentation x prompt variant, each with a stem every trainer can
use (dot-free, unique across scenarios) and the facts its latent file's header records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from prep_platform.lib.files.latent_file import read_latent_header
from prep_platform.lib.files.prompt_embedding_file import prompt_sha256
from prep_platform.lib.layout import DataLayout, sample_id_of


class ExportError(ValueError):
    """The inputs cannot make a sound export (mixed VAEs or frame configurations, missing prompt embeddings,
    colliding stems): the message names the files."""


# Header facts copied into export.json for every stem (never taken from a constant).
HEADER_FACTS = ("model_id", "revision", "scaling_factor", "invert_scale_latents", "latent_channels", "frames", "fps",
                "width", "height", "vae_fingerprint", "frame_config_fingerprint", "config_fingerprint",
                "source_fingerprint", "window_start_s", "window_end_s", "window_index", "shot", "clean_window",
                "source_path", "stored_dtype")


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
    image_path: str  # the conditioning PNG (of the unflipped window)
    header: dict

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "stem"}


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


def collect_samples(layout: DataLayout, index_rows: dict[str, list[dict]], prompt_manifests: dict[str, dict | None], *,
                    splits: tuple[str, ...], need_embeddings: bool) -> list[ExportSample]:
    """`index_rows`: scenario -> its training index rows; `prompt_manifests`: scenario -> its prompt stage manifest.
    Every file is located by the layout (a data root copied elsewhere still exports), never by a path a manifest
    recorded. Refuses (ExportError) mixed VAEs or frame configurations, missing prompt embeddings and colliding
    stems."""
    samples: list[ExportSample] = []
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
                header = read_latent_header(latent_path)
                if header is None:
                    raise ExportError(f"{latent_path}: unreadable latent file (listed in the training index of {scenario})")
                for index, prompt in enumerate(row["prompt_variants"]):
                    sha = prompt_sha256(prompt)
                    embedding = embeddings.get((row["video_id"], index))
                    if need_embeddings and (embedding is None or embedding["prompt_sha256"] != sha):
                        missing_prompts.append(f"{scenario}/{row['video_id']} prompt {index}")
                        continue
                    samples.append(ExportSample(
                        stem=stem_for(scenario, sample, augmentation, index), scenario=scenario,
                        video_id=row["video_id"], sample_id=sample, split=row["split"], augmentation=augmentation,
                        prompt_variant=index,
                        prompt=" ".join(prompt.split()), prompt_sha256=sha,
                        prompt_embedding=str(layout.prompt_embedding(encoder_tag, sha)) if embedding else "",
                        latent_path=str(latent_path), image_path=str(layout.image(scenario, sample)),
                        header={k: header.get(k) for k in HEADER_FACTS},
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
    return samples


def _refuse_mixed(samples: list[ExportSample]) -> None:
    """One VAE and one frame configuration per export: a trainer cannot mix them in one run."""
    for key in ("vae_fingerprint", "frame_config_fingerprint"):
        first: dict[str, ExportSample] = {}
        for sample in samples:
            first.setdefault(sample.header[key], sample)
        if len(first) > 1:
            a, b = list(first.values())[:2]
            raise ExportError(f"the latents differ in {key}: {a.latent_path} ({a.header[key]}, {a.header['model_id']}, "
                              f"{a.header['width']}x{a.header['height']}x{a.header['frames']}) vs {b.latent_path} "
                              f"({b.header[key]}, {b.header['model_id']}, {b.header['width']}x{b.header['height']}x"
                              f"{b.header['frames']}): export one configuration at a time (--scenario)")


def inputs_fingerprint(export_format: str, format_version: int, samples: list[ExportSample], options: dict) -> str:
    """What the export is made from: when it is unchanged, a re-run writes nothing."""
    payload = [export_format, format_version, options,
               [(s.stem, s.prompt_sha256, s.header["config_fingerprint"], s.header["source_fingerprint"],
                 "/".join(Path(s.prompt_embedding).parts[-2:]) if s.prompt_embedding else "") for s in samples]]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]
