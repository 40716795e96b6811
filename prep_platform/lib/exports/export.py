"""One export: the samples written in a format's layout into a fresh folder beside the target, read back whole by
the trainer's rules, and only then swapped in (an atomic exchange where the file system has one), all under one
lock: a broken export never replaces a good one, and a kill at any moment leaves the old export or the new one
plus leftovers the next run removes (known by the owner file each carries, never by their name). An export writes
only into a folder it created or one holding its own `export.json`; anything else is refused before anything is
touched. Inputs unchanged: nothing is rewritten."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from prep_platform import __version__
from prep_platform.lib.currency import Derivation, stale_reason
from prep_platform.lib.exports.collect import SHARED_FACTS, SPREAD, ExportError, ExportSample, export_derivation
from prep_platform.lib.exports.formats import FORMATS, ExportFormat
from prep_platform.lib.files.atomic import (beside, folder_lock, host_tag, read_json_file, read_json_if_present,
                                             write_json_atomic, writer_gone)
from prep_platform.lib.scenarios import prompt_problem

# 2: seeded spread order, launch commands, image moments, cache dtype. 3: export.json records what the export was
# derived from (`derived_from`, lib.currency) and `inputs_fingerprint` is that derivation's: a version 2 export is
# written again once.
EXPORT_FORMAT_VERSION = 3
EXPORT_FILE = "export.json"
PARTIAL = ".partial-"  # `.<name>.partial-<pid>`: an export being written (or, after the exchange, the old one)
OLD = ".old-"  # `.<name>.old-<pid>`: the old export between two renames where no atomic exchange exists
# `<folder>.export-owner.json` beside each of those: the output it serves and its writer (host, pid). It is written
# before the folder exists and removed after it is gone, so a kill at any moment leaves only folders the next run
# can tell apart from a user's `.out.old-photos`. Beside, not inside: the exchange swaps whole folders, so a file
# inside the new export would be published with it and the old export would come back to the partial name without.
OWNER_SUFFIX = ".export-owner.json"
_OWNER_FILE_MAX = 64 << 10  # an owner file is a few hundred bytes: anything larger is not one
DTYPES = ("bf16", "fp16", "fp32")


class ExportRefused(ExportError):
    """The output folder is not the export's to write (exit 2, nothing touched)."""


class ExportInvalid(ExportError):
    """The new export failed its read-back: it was not published, the previous one stays."""


@dataclass(frozen=True)
class ExportRequest:
    """What the user chose beyond the data: the dtype a cache is written in (CogVideo finetune casts the prompt to
    it, so it must be the dtype the user trains in), the trainer's model name, the seed of the sample order."""

    dtype: str = "bf16"
    trainer_model_name: str | None = None
    order_seed: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ExportError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")


@dataclass
class ExportResult:
    folder: Path
    export_format: str
    state: str  # written | unchanged
    stems: int
    duration_s: float
    export: dict
    read_back_s: float = 0.0
    why: str = ""  # written: why the export there was not current (lib.currency.stale_reason, or its missing files)


def recorded_derivation(export: dict | None) -> Derivation | None:
    """What an export records it was derived from; an export of version 2 recorded only its format version."""
    if export is None:
        return None
    return Derivation.from_json(export.get("derived_from")) or Derivation({}, None, export.get("format_version"))


def format_module(export_format: str) -> ExportFormat:
    try:
        return FORMATS[export_format]
    except KeyError:
        raise ExportError(f"unknown export format {export_format!r}; choose one of {', '.join(FORMATS)}") from None


def read_export(folder: Path | str) -> dict | None:
    try:  # an export.json half-read or damaged counts as no export: the next run writes a whole one
        export = read_json_if_present(Path(folder) / EXPORT_FILE)
    except (OSError, ValueError):
        return None
    return export if isinstance(export, dict) and export.get("format") in FORMATS and isinstance(export.get("stems"), dict) else None


# --- where an export may write ------------------------------------------------------------------------------


def check_output_folder(output: Path | str, protected: dict[str, Path]) -> Path:
    """`output` as an absolute path when an export may replace it; ExportRefused naming the path and why otherwise.
    `protected`: what must never be replaced or written into (name -> path): the data root and the inputs the
    export is made from; `/` and the home folder always are."""
    output = Path(os.path.abspath(os.path.expanduser(str(output))))
    if output.is_symlink():
        raise ExportRefused(f"{output}: is a symbolic link; an export replaces only a folder it wrote (give a new folder)")
    real = Path(os.path.realpath(output))
    if real == Path(real.anchor):
        raise ExportRefused(f"{output}: is the file system root; give a new folder for the export")
    home = Path(os.path.realpath(os.path.expanduser("~")))
    if real == home or real in home.parents:
        raise ExportRefused(f"{output}: is the home folder or holds it; give a new folder for the export")
    for name, path in protected.items():
        place = Path(os.path.realpath(path))
        if real == place or real in place.parents:
            raise ExportRefused(f"{output}: is or holds the {name} ({path}); give a folder of its own for the export")
        if name != "data root" and place in real.parents:
            raise ExportRefused(f"{output}: lies inside the {name} ({path}); give a folder of its own for the export")
    if output.exists() and not output.is_dir():
        raise ExportRefused(f"{output}: is a file, not a folder; an export replaces only a folder it wrote")
    if output.is_dir() and any(output.iterdir()) and read_export(output) is None:
        raise ExportRefused(f"{output}: is not empty and holds no {EXPORT_FILE}: an export replaces only a folder it "
                            f"wrote (give a new or empty folder)")
    return output


def _owner_file(folder: Path) -> Path:
    return beside(folder, folder.name + OWNER_SUFFIX)


def _claim(output: Path, kind: str) -> Path:
    """A free name beside `output` for a folder of `kind` (PARTIAL or OLD), claimed by its owner file before the
    folder is made. A name something else already holds (a user's folder or file, a live run's) is passed over."""
    base = f".{output.name}{kind}{os.getpid()}"
    for n in range(100):
        folder = beside(output, base if n == 0 else f"{base}-{n}")
        owner = _owner_file(folder)
        if any(os.path.lexists(path) for path in (folder, owner)):
            continue
        write_json_atomic(owner, {"export_leftover": kind.strip(".-"), "output": str(output), "folder": folder.name,
                                  "host": host_tag(), "pid": os.getpid()})
        return folder
    raise ExportRefused(f"{beside(output, base)}: this name and 99 others beside the output are taken; "
                        f"remove what is there or choose another --output-dir")


def _discard(folder: Path) -> None:
    """Remove a folder this export claimed, then its owner file (kept while the folder stays: a later run ends it)."""
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
    if not folder.is_dir() or folder.is_symlink():
        _owner_file(folder).unlink(missing_ok=True)


def _leftover_of(owner: Path, output: Path) -> Path | None:
    """The folder `owner` claims when it is an owner file of an export into `output` whose writer is gone."""
    try:
        if not owner.is_file() or owner.is_symlink() or owner.stat().st_size > _OWNER_FILE_MAX:
            return None
        record = read_json_file(owner)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("output") != str(output):
        return None
    name = record.get("folder")
    if (not isinstance(name, str) or owner.name != name + OWNER_SUFFIX
            or not name.startswith((f".{output.name}{PARTIAL}", f".{output.name}{OLD}"))):
        return None
    # The lock serialises exports into one parent; a live writer is still left alone, should a caller not hold it.
    return beside(output, name) if writer_gone(record.get("pid"), record.get("host")) else None


def remove_leftovers(output: Path) -> list[Path]:
    """What killed exports into `output` left beside it (call under the lock): the partial folders and old copies
    whose owner file names `output` and a writer that is gone from this host. A folder that merely has such a name
    is someone else's and stays. The name is taken literally (iterdir, never a glob: it may hold `*` or `[`)."""
    removed = []
    prefix = f".{output.name}."
    for owner in sorted(output.parent.iterdir()):
        if not (owner.name.startswith(prefix) and owner.name.endswith(OWNER_SUFFIX)):
            continue
        folder = _leftover_of(owner, output)
        if folder is None:
            continue
        if folder.is_dir() and not folder.is_symlink():
            removed.append(folder)
        _discard(folder)
    return removed


# --- one export ----------------------------------------------------------------------------------------------


def run_export(samples: list[ExportSample], export_format: str, output: Path | str, *,
               protected: dict[str, Path] | None = None, request: ExportRequest = ExportRequest(),
               notes: dict | None = None, left_out: list[dict] | None = None, on_wait=None) -> ExportResult:
    module = format_module(export_format)
    output = check_output_folder(output, protected or {})
    started = time.perf_counter()
    options = {**module.options(samples, request), "order_seed": request.order_seed}
    derivation = export_derivation(export_format, EXPORT_FORMAT_VERSION, samples, {**options, "folder": str(output)})
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportRefused(f"{output}: its parent folder cannot be created: {exc.strerror or exc}") from exc
    with folder_lock([output.parent], on_wait):
        output = check_output_folder(output, protected or {})  # again under the lock: another run may have written
        remove_leftovers(output)
        existing = read_export(output)
        missing = missing_files(output, existing) if existing else []
        why = stale_reason(recorded_derivation(existing), derivation) or (
            f"{len(missing)} file(s) missing (first: {missing[0]})" if missing else "")
        if not why:
            return ExportResult(output, export_format, "unchanged", len(samples), round(time.perf_counter() - started, 3), existing)
        if not samples:
            kept = f"; the export at {output} ({len(existing['stems'])} stems) is kept" if existing and existing["stems"] else ""
            why = "; ".join(f"{item['sample']}: {item['reason']}" for item in (left_out or [])[:3])
            raise ExportError(f"nothing to export: no sample of the chosen scenarios and split has a current latent "
                              f"cache and prompt{(' (left out: ' + why + ')') if why else ''}{kept}")
        partial = _claim(output, PARTIAL)
        try:
            partial.mkdir()
            files = module.write(samples, partial, options=options, final=output)
            first = samples[0].header
            export = {
                "format": export_format,
                "format_version": EXPORT_FORMAT_VERSION,
                "package_version": __version__,
                "inputs_fingerprint": derivation.fingerprint(),
                "derived_from": derivation.to_json(),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "lossy": module.LOSSY,
                "lossy_note": "videos are H.264 re-encodes (CRF 18) of the training windows" if module.LOSSY else "",
                "launch": module.launch(samples, output, options),
                "options": options,
                "order": {"kind": f"seeded shuffle, samples of one clip at least {SPREAD} lines apart where the clips allow",
                          "seed": request.order_seed},
                # what every stem shares (read back against the stems), and how the latents are normalised
                "latents": {k: first.get(k) for k in dict.fromkeys((*SHARED_FACTS, "revision", "normalisation"))},
                "counts": {"stems": len(samples), "clips": len({(s.scenario, s.video_id) for s in samples}),
                           "samples": len({(s.scenario, s.sample_id) for s in samples}),
                           "per_scenario": _count(s.scenario for s in samples),
                           "per_augmentation": _count(s.augmentation for s in samples),
                           "left_out": len(left_out or [])},
                "left_out": left_out or [],
                **(notes or {}),
                "stems": {s.stem: {**s.record(), "files": files[s.stem]} for s in samples},
            }
            export["launch_flags"] = export["launch"]["command"]
            write_json_atomic(partial / EXPORT_FILE, export)  # last: a folder with it is complete
            checked = time.perf_counter()
            problems = export_problems(partial, expected_stems=[s.stem for s in samples])
            read_back_s = time.perf_counter() - checked
            if problems:
                raise ExportInvalid(f"the new {export_format} export failed its read-back and was not published "
                                    f"({len(problems)} problem(s); first: {problems[0]})"
                                    + (f"; {output} is unchanged" if output.exists() else ""))
            _swap_in(partial, output)
        finally:  # after the swap: the old export (exchange) or nothing; on failure: the unpublished export
            _discard(partial)
    return ExportResult(output, export_format, "written", len(samples), round(time.perf_counter() - started, 3), export,
                        round(read_back_s, 3), why)


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system or file system has none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot swap {a} into {b}: {os.strerror(code)}")


def _swap_in(partial: Path, output: Path) -> None:
    """The complete folder takes the place of the old one. With an atomic exchange the old export ends up in
    `partial`'s place (a kill then leaves only a leftover the next run removes); otherwise it is renamed aside
    first (a kill between the renames leaves no export until the next run, which writes it again)."""
    if not output.exists():
        os.rename(partial, output)
        return
    if _exchange(partial, output):
        return  # the old export is now at `partial`, which the caller discards
    old = _claim(output, OLD)
    os.rename(output, old)
    try:
        os.rename(partial, output)
    except BaseException:
        os.rename(old, output)  # the old export back in place: a failed publish never leaves none
        raise
    _discard(old)


# --- read-back -----------------------------------------------------------------------------------------------


def missing_files(folder: Path, export: dict) -> list[str]:
    return [f"{stem}: {name}" for stem, sample in export.get("stems", {}).items() for name in sample.get("files", [])
            if not (folder / name).is_file()]


def export_problems(folder: Path | str, *, expected_stems: list[str] | None = None) -> list[str]:
    """The export read back by its format's own rules, plus what holds for all: export.json present, stems dot-free
    and unique, every listed file present, every prompt one non-blank line, the header facts a trainer runs on the
    same for every stem, and (when given) exactly the expected stems. A file that cannot be read is a problem
    naming it, never an exception."""
    folder = Path(folder)
    export = read_export(folder)
    if export is None:
        return [f"{folder / EXPORT_FILE} is missing or unreadable: the export is incomplete"]
    stems = export["stems"]
    found = [f"stem {stem!r} has a dot" for stem in stems if "." in stem]
    if expected_stems is not None and sorted(expected_stems) != sorted(stems):
        found.append(f"{folder / EXPORT_FILE} lists {len(stems)} stems, the export was made of {len(expected_stems)}")
    found += [f"missing file {m}" for m in missing_files(folder, export)]
    for stem, sample in stems.items():
        problem = prompt_problem(sample.get("prompt"))
        if problem:
            found.append(f"{stem}: {problem}")
    for key in SHARED_FACTS:  # what collect refuses to mix, read back from what was written
        values = {repr(sample["header"].get(key)) for sample in stems.values()}
        if len(values) > 1:
            found.append(f"the stems' latents differ in {key}: {sorted(values)[:3]}")
        elif values and values != {repr(export["latents"].get(key))}:
            found.append(f"{EXPORT_FILE} states {key} {export['latents'].get(key)!r}, the stems' latents {values.pop()}")
    if found:
        return found
    try:
        return format_module(export["format"]).problems(folder, export)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # a file the format's reader could not take
        return [f"{folder}: unreadable export file: {type(exc).__name__}: {exc}"]

