"""The embedded demo sample as the pipeline takes it: what writes each part of it. The sample's code lives beside
the core (prep_platform.samples, which builds DEMO_SAMPLE from it); the shells (the command-line tools and the Dagster
assets) give it to the pipeline, so the core never imports demo data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class NoDemoSampleError(ValueError):
    """A source is `sample` but the pipeline was given no demo sample to place (the caller's omission)."""


@dataclass(frozen=True)
class DemoSample:
    """Each writer takes a folder, writes that part of the sample there (again only when it changed) and returns
    the folder the source then reads."""

    msr_vtt_release: Callable[[Path], Path]  # a small MSR-VTT release laid out like the Hub repo
    vatex_release: Callable[[Path], Path]  # a small VATEX release laid out like such a repo
    panda_files: Callable[[Path], Path]  # a Panda-70M CSV and download shards where a user puts them


def sample_writer(sample: DemoSample | None, part: str, why: str) -> Callable[[Path], Path]:
    """The writer of `part` (a field of DemoSample); when no sample was given, one line saying `why` one was needed."""
    if sample is None:
        raise NoDemoSampleError(f"{why}, but no demo sample was given to the pipeline (the caller passes "
                                f"sample=prep_platform.samples.DEMO_SAMPLE)")
    return getattr(sample, part)
