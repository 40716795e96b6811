"""What an export format is: the protocol every format module meets, and the registry of them. The generic export
(export.py, collect.py) works through this protocol only and names no format."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from prep_platform.lib.exports import cogvideo_finetune, cogvideox_factory, diffusers_videos, finetrainers
from prep_platform.lib.exports.collect import ExportSample


@runtime_checkable
class ExportFormat(Protocol):
    """A trainer's layout. A format is a module with these names (a module meets a Protocol by its attributes)."""

    NAME: str  # the --format value and export.json's "format"
    NEEDS_EMBEDDINGS: bool  # its samples need prompt embeddings (the prompt stage must have run)
    NEEDS_IMAGES: bool  # it writes the conditioning images
    LOSSY: bool  # its videos are re-encodes, said in export.json

    def options(self, samples: list[ExportSample], request) -> dict:
        """The trainer-facing choices this export is written with (dtype, model name, ...): part of its fingerprint."""

    def launch(self, samples: list[ExportSample], folder: Path, options: dict) -> dict:
        """How to start the trainer on the export: its command and what it needs to be told."""

    def write(self, samples: list[ExportSample], folder: Path, *, options: dict, final: Path, **kwargs) -> dict[str, list[str]]:
        """Write the samples into `folder` (to be moved to `final`); stem -> the files written for it."""

    def problems(self, folder: Path, export: dict) -> list[str]:
        """The export read back by the trainer's own rules; [] when the trainer can load it as it is."""


def registry(*modules) -> dict[str, ExportFormat]:
    """NAME -> format, each checked against the protocol (a format missing a member is refused naming it)."""
    formats: dict[str, ExportFormat] = {}
    for module in modules:
        if not isinstance(module, ExportFormat):
            missing = [name for name in ("NAME", "NEEDS_EMBEDDINGS", "NEEDS_IMAGES", "LOSSY", "options", "launch", "write",
                                         "problems") if not hasattr(module, name)]
            raise TypeError(f"{getattr(module, '__name__', module)!r} is not an export format: it lacks {', '.join(missing)}")
        formats[module.NAME] = module
    return formats


FORMATS = registry(cogvideox_factory, cogvideo_finetune, finetrainers, diffusers_videos)
