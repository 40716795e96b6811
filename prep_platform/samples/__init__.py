"""Demo data: the embedded sample (small MSR-VTT, VATEX and Panda-70M releases, generated deterministically) and
synthetic clips. The core (prep_platform.lib) never imports it: the shells give DEMO_SAMPLE to the pipeline, which
places it when a source is `sample`. Each part's code is imported when that part is written."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from prep_platform.lib.demo_sample import DemoSample

# A folder where each part of the sample is generated once and copied from into every data root made from it: the
# MSR-VTT part alone is ~10 s of CPU (31 clips encoded to H.264), paid again by every new data root otherwise (a test
# suite makes dozens). Unset (the default): each data root's sample is generated in place, nothing written elsewhere.
SAMPLE_CACHE_VARIABLE = "PREP_PLATFORM_SAMPLE_CACHE"
STAMP = ".sample-version"  # what each part's generator writes last: the part is complete and current


def _generator_key() -> str:
    """What the sample's bytes depend on: the generating code (this package and the category list it writes) and
    the libraries that render and encode it. A change to any makes a new cache folder."""
    import av
    import numpy

    digest = hashlib.sha256(f"av {av.__version__} numpy {numpy.__version__}".encode())
    here = Path(__file__).parent
    for source in sorted([*here.glob("*.py"), here.parent / "lib" / "msr_vtt_categories.py"]):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def _through_cache(part: str, generate: Callable[[Path], Path]) -> Callable[[Path], Path]:
    """`generate`, or, with PREP_PLATFORM_SAMPLE_CACHE set, a copy of the part generated once in that folder (one
    process generates it, under a lock; the others wait and copy). A data root whose copy is whole and current is
    left as it is; the stamp is copied last, so a copy cut short is made again."""

    def write(folder: Path) -> Path:
        cache = os.environ.get(SAMPLE_CACHE_VARIABLE)
        if not cache:
            return generate(folder)
        from filelock import FileLock

        from prep_platform.lib.files.atomic import copy_atomic, is_atomic_temp_name

        folder, kept = Path(folder), Path(cache) / f"{part}-{_generator_key()}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{kept}.lock"):
            generate(kept)  # returns at once when its stamp says the part is there
        # Not the stamp (copied last) nor what a generator killed mid-write left.
        files = sorted(p.relative_to(kept) for p in kept.rglob("*")
                       if p.is_file() and p.name != STAMP and not is_atomic_temp_name(p.name))
        stamp = folder / STAMP
        if stamp.is_file() and stamp.read_bytes() == (kept / STAMP).read_bytes() and all((folder / f).is_file() for f in files):
            return folder
        for relative in files:
            copy_atomic(kept / relative, folder / relative)
        copy_atomic(kept / STAMP, stamp)
        return folder

    return write


def _msr_vtt_release(folder: Path) -> Path:
    from prep_platform.samples.msr_vtt import generate_sample_release

    return generate_sample_release(folder)


def _vatex_release(folder: Path) -> Path:
    from prep_platform.samples.vatex import generate_vatex_sample

    return generate_vatex_sample(folder)


def _panda_files(folder: Path) -> Path:
    from prep_platform.samples.panda70m import generate_panda_sample

    return generate_panda_sample(folder)


DEMO_SAMPLE = DemoSample(msr_vtt_release=_through_cache("msr-vtt", _msr_vtt_release),
                         vatex_release=_through_cache("vatex", _vatex_release),
                         panda_files=_through_cache("panda-70m", _panda_files))
