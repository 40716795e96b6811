"""Demo data: the embedded sample (small MSR-VTT, VATEX and Panda-70M releases, generated deterministically) and
synthetic clips. The core (prep_platform.lib) never imports it: the shells give DEMO_SAMPLE to the pipeline, which
places it when a source is `sample`. Each part's code is imported when that part is written."""

from __future__ import annotations

from pathlib import Path

from prep_platform.lib.demo_sample import DemoSample


def _msr_vtt_release(folder: Path) -> Path:
    from prep_platform.samples.msr_vtt import generate_sample_release

    return generate_sample_release(folder)


def _vatex_release(folder: Path) -> Path:
    from prep_platform.samples.vatex import generate_vatex_sample

    return generate_vatex_sample(folder)


def _panda_files(folder: Path) -> Path:
    from prep_platform.samples.panda70m import generate_panda_sample

    return generate_panda_sample(folder)


DEMO_SAMPLE = DemoSample(msr_vtt_release=_msr_vtt_release, vatex_release=_vatex_release, panda_files=_panda_files)
