"""One export: the samples written in a format's layout into a fresh folder that replaces the old one only once
complete (a half-written export never looks complete), export.json last, mapping every stem to its clip, scenario,
augmentation, prompt variant, latent file and header facts. Inputs unchanged: nothing is rewritten."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from prep_platform import __version__
from prep_platform.lib.exports import cogvideo_finetune, cogvideox_factory, diffusers_videos, finetrainers
from prep_platform.lib.exports.collect import ExportError, ExportSample, inputs_fingerprint
from prep_platform.lib.files.atomic import folder_lock, read_json_if_present, write_json_atomic

FORMATS = {module.NAME: module for module in (cogvideox_factory, cogvideo_finetune, finetrainers, diffusers_videos)}
EXPORT_FORMAT_VERSION = 1
EXPORT_FILE = "export.json"
PARTIAL = ".partial-"


@dataclass
class ExportResult:
    folder: Path
    export_format: str
    state: str  # written | unchanged
    stems: int
    duration_s: float
    export: dict


def format_module(export_format: str):
    try:
        return FORMATS[export_format]
    except KeyError:
        raise ExportError(f"unknown export format {export_format!r}; choose one of {', '.join(FORMATS)}") from None


def export_options(export_format: str, samples: list[ExportSample]) -> dict:
    if export_format == cogvideo_finetune.NAME:
        return {"model_name": cogvideo_finetune.model_name(samples), "resolution": cogvideo_finetune.resolution(samples)}
    return {}


def read_export(folder: Path | str) -> dict | None:
    try:  # an export.json half-read or damaged counts as no export: the next run writes a whole one
        return read_json_if_present(Path(folder) / EXPORT_FILE)
    except (OSError, ValueError):
        return None


def run_export(samples: list[ExportSample], export_format: str, output: Path | str, *, notes: dict | None = None,
               on_wait=None) -> ExportResult:
    module = format_module(export_format)
    output = Path(output)
    started = time.perf_counter()
    options = export_options(export_format, samples)
    fingerprint = inputs_fingerprint(export_format, EXPORT_FORMAT_VERSION, samples, options)
    output.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock([output.parent], on_wait):
        existing = read_export(output)
        if existing and existing.get("inputs_fingerprint") == fingerprint and not missing_files(output, existing):
            return ExportResult(output, export_format, "unchanged", len(samples), round(time.perf_counter() - started, 3), existing)
        for stale in output.parent.glob(f".{output.name}{PARTIAL}*"):  # a killed export's leftovers
            shutil.rmtree(stale, ignore_errors=True)
        partial = output.parent / f".{output.name}{PARTIAL}{os.getpid()}"
        partial.mkdir()
        try:
            files = module.write(samples, partial)
            first = samples[0].header if samples else {}
            export = {
                "format": export_format,
                "format_version": EXPORT_FORMAT_VERSION,
                "package_version": __version__,
                "inputs_fingerprint": fingerprint,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "lossy": module.LOSSY,
                "lossy_note": "videos are H.264 re-encodes (CRF 18) of the training windows" if module.LOSSY else "",
                "launch_flags": module.launch_flags(samples),
                "options": options,
                "latents": {k: first.get(k) for k in ("model_id", "revision", "scaling_factor", "invert_scale_latents",
                                                      "vae_fingerprint", "frame_config_fingerprint", "frames", "fps",
                                                      "width", "height")},
                "counts": {"stems": len(samples), "clips": len({(s.scenario, s.video_id) for s in samples}),
                           "samples": len({(s.scenario, s.sample_id) for s in samples}),
                           "per_scenario": _count(s.scenario for s in samples),
                           "per_augmentation": _count(s.augmentation for s in samples)},
                **(notes or {}),
                "stems": {s.stem: {**s.record(), "files": files[s.stem]} for s in samples},
            }
            write_json_atomic(partial / EXPORT_FILE, export)  # last: a folder with it is complete
            _swap_in(partial, output)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return ExportResult(output, export_format, "written", len(samples), round(time.perf_counter() - started, 3), export)


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def _swap_in(partial: Path, output: Path) -> None:
    """The complete folder takes the place of the old one; the old one is removed after."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{os.getpid()}"
        os.replace(output, old)
    os.replace(partial, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def missing_files(folder: Path, export: dict) -> list[str]:
    return [f"{stem}: {name}" for stem, sample in export.get("stems", {}).items() for name in sample.get("files", [])
            if not (folder / name).is_file()]


def export_problems(folder: Path | str) -> list[str]:
    """The export read back by its format's own rules, plus what holds for all: export.json present, stems dot-free
    and unique, every listed file present."""
    folder = Path(folder)
    export = read_export(folder)
    if export is None:
        return [f"{folder / EXPORT_FILE} is missing or unreadable: the export is incomplete"]
    found = [f"stem {stem!r} has a dot" for stem in export["stems"] if "." in stem]
    found += [f"missing file {m}" for m in missing_files(folder, export)]
    if found:
        return found
    return format_module(export["format"]).problems(folder, export)
