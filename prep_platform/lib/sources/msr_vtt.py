"""Fetch MSR-VTT (Hub, embedded sample or a local copy), extract the first N training clips, probe them.

Output folder:
    MSRVTT_data.json       the annotation
    MSRVTT_Videos.zip      the archive (Hub source only; a local source is read in place)
    train-video/*.mp4      the extracted clips
    manifest.csv           one row per selected clip, with status and reason
    download_report.json   how the folder was made: source, revision, commit, ETags, counts, versions
"""

from __future__ import annotations

import shutil
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from prep_platform import __version__
from prep_platform.lib.files.atomic import WriteError, atomic_path, copy_atomic, write_json_atomic
from prep_platform.lib.files.hub import download_hub_file, redact_endpoint, resolve_endpoint
from prep_platform.lib.frames import read as probe_status  # the probe statuses, by their module's name
from prep_platform.lib.frames.read import probe_video
from prep_platform.lib.layout import MsrVttFolder
from prep_platform.lib.progress import ProgressCallback
from prep_platform.lib.safe_paths import UNSAFE_ID, unsafe_id_reason
from prep_platform.lib.source_files import ManifestRow, manifest_status_counts, write_manifest
from prep_platform.lib.sources.msr_vtt_release import DEFAULT_ANNOTATION_FILE, DEFAULT_REPO_ID, DEFAULT_VIDEOS_ARCHIVE

EXTRACT_FAILED = "extract_failed"
WRITE_FAILED = "write_failed"  # the clip could not be written (disk full, permissions): the machine's failure

# Progress callback: (clips done, clips total, status counts so far).


@dataclass
class MsrVttSourceConfig:
    """Where MSR-VTT comes from: `hub`, `sample` (the embedded release) or a local folder laid out like the repo."""

    source: str = "hub"
    repo_id: str = DEFAULT_REPO_ID
    revision: str = "main"
    annotation_file: str = DEFAULT_ANNOTATION_FILE
    videos_archive: str = DEFAULT_VIDEOS_ARCHIVE
    endpoint: str | None = None
    token: str | None = field(default=None, repr=False)
    # The embedded release's folder when `source` is `sample`: placed by the caller (pipeline.fetch_msr_vtt, from
    # prep_platform.samples), so the source reads a release folder and knows nothing of how the sample is made.
    sample_release: Path | None = None


@dataclass
class MsrVttRawResult:
    output_dir: Path
    manifest_path: Path
    annotation_path: Path
    rows: list[ManifestRow]
    report: dict

    @property
    def counts(self) -> dict[str, int]:
        return manifest_status_counts(self.rows)


class SourceError(ValueError):
    """The configured source cannot be used (e.g. a local folder without the expected files)."""


class NoUsableClipsError(ValueError):
    """Every selected clip failed; the manifest and report were written and say why. `environment` is True when
    the machine (a full disk) rather than the data made some of them fail."""

    def __init__(self, message: str, *, environment: bool = False):
        super().__init__(message)
        self.environment = environment


def _fetch_source(config: MsrVttSourceConfig, folder: MsrVttFolder) -> tuple[Path, Path, dict]:
    """Return (annotation path, archive path, provenance) for the configured source. Nothing an earlier run wrote is
    replaced until the source has delivered both files: a failed download leaves the folder as it was."""
    if config.source == "hub":
        # The archive first: the annotation lands where an earlier run's copy is (the sample's, a local source's), and
        # would describe clips its manifest does not have if the archive then failed.
        archive = download_hub_file(
            config.repo_id, config.videos_archive, folder.download(config.videos_archive),
            revision=config.revision, endpoint=config.endpoint, token=config.token,
        )
        annotation = download_hub_file(
            config.repo_id, config.annotation_file, folder.annotation,
            revision=config.revision, endpoint=config.endpoint, token=config.token,
        )
        provenance = {
            "source": "hub",
            "endpoint": redact_endpoint(resolve_endpoint(config.endpoint)),
            "repo_id": config.repo_id,
            "revision": config.revision,
            "commit": archive.commit or annotation.commit,
            "files": [annotation.as_dict(), archive.as_dict()],
        }
        return Path(annotation.path), Path(archive.path), provenance

    if config.source == "sample":
        if config.sample_release is None:
            raise SourceError("--source sample: the sample release was not placed (pipeline.fetch_msr_vtt places it)")
        release = Path(config.sample_release)
        provenance = {"source": "sample", "release_dir": str(release)}
    else:
        release = Path(config.source)
        if not release.is_dir():
            raise SourceError(f"--source {config.source!r}: not found (a folder laid out like the Hub repo; or 'hub', "
                              f"'sample')")
        provenance = {"source": "local", "release_dir": str(release.resolve())}
    annotation_src = release / config.annotation_file
    archive = release / config.videos_archive
    for needed in (annotation_src, archive):
        if not needed.is_file():
            raise SourceError(f"{release}: expected {needed.relative_to(release)} (layout of the Hub repo)")
    return annotation_src, archive, provenance


def _keep_annotation(source: Path, folder: MsrVttFolder) -> Path:
    """The folder's copy of the annotation (the Hub's lands there already): small, and it makes the folder
    self-contained."""
    annotation = folder.annotation
    if source != annotation and (not annotation.exists() or annotation.read_bytes() != source.read_bytes()):
        copy_atomic(source, annotation)
    return annotation


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> bool:
    """Extract one member atomically; return False when an identical-size copy is already there."""
    if dest.exists() and dest.stat().st_size == info.file_size:
        return False
    with atomic_path(dest) as tmp, archive.open(info) as src, tmp.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return True


def download_msr_vtt(
    output_dir: Path | str,
    *,
    config: MsrVttSourceConfig | None = None,
    limit: int | None = 1500,
    min_duration_s: float = 6.0,
    progress: ProgressCallback | None = None,
) -> MsrVttRawResult:
    """Fetch, extract the first `limit` training clips (train split, then validate) and probe each one."""
    config = config or MsrVttSourceConfig()
    output_dir = Path(output_dir)
    folder = MsrVttFolder(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    # The source's annotation and archive are read before the folder's copy is replaced: a broken one is refused
    # with the earlier run's files as they were.
    annotation_source, archive_path, provenance = _fetch_source(config, folder)
    annotation = load_annotation(annotation_source)
    selected = select_training_clips(annotation, limit)

    rows: list[ManifestRow] = []
    counts: Counter = Counter()
    extracted = already_there = 0
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"{archive_path}: not a readable zip archive: {exc}") from exc
    annotation_path = _keep_annotation(annotation_source, folder)
    with archive:
        # Match members by file name so any folder prefix (`video/`, `MSRVTT/videos/all/`) works.
        members = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}
        for done, clip in enumerate(selected, start=1):
            unsafe = unsafe_id_reason(clip.video_id)
            dest = folder.clip(clip.video_id) if unsafe is None else folder.clips_dir
            info = members.get(f"{clip.video_id}.mp4")
            if unsafe:  # never becomes a path: recorded, and the other clips go on
                result = probe_status.ProbeResult(UNSAFE_ID, f"{folder.annotation.name}: video_id {unsafe}")
            elif info is None:
                result = probe_status.ProbeResult(
                    probe_status.MISSING,
                    f"{clip.video_id} is referenced by the annotation but absent from {archive_path.name}",
                )
            else:
                try:
                    if _extract(archive, info, dest):
                        extracted += 1
                    else:
                        already_there += 1
                    result = probe_video(dest, min_duration_s=min_duration_s)
                except WriteError as exc:  # the disk, not the archive: a rerun after freeing space extracts it
                    result = probe_status.ProbeResult(WRITE_FAILED, f"{archive_path.name}:{info.filename}: {exc}")
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    result = probe_status.ProbeResult(
                        EXTRACT_FAILED, f"{archive_path.name}:{info.filename}: cannot extract: {exc}"
                    )
            rows.append(
                ManifestRow(
                    video_id=clip.video_id,
                    path=str(dest) if unsafe is None else "",
                    bytes=dest.stat().st_size if result.status not in (probe_status.MISSING, UNSAFE_ID) and dest.exists() else None,
                    fps=round(result.fps, 6) if result.fps else None,
                    frame_count=result.frame_count,
                    width=result.width,
                    height=result.height,
                    duration_s=result.duration_s,
                    status=result.status,
                    error=result.error,
                    category=clip.category,
                    source_split=clip.split,
                )
            )
            counts[result.status] += 1
            if progress:
                progress(done, len(selected), counts)

    manifest_path = folder.manifest
    write_manifest(manifest_path, rows)
    report = {
        "tool": "prep_platform.data_prep.download_msr_vtt",
        "package_version": __version__,
        "provenance": provenance,
        "settings": {
            "limit": limit,
            "min_duration_s": min_duration_s,
            "annotation_file": config.annotation_file,
            "videos_archive": config.videos_archive,
        },
        "clips_selected": len(selected),
        "counts": manifest_status_counts(rows),
        "extracted": extracted,
        "already_extracted": already_there,
        "bytes_ok": sum(row.bytes or 0 for row in rows if row.status == probe_status.OK),
        "manifest": str(manifest_path),
        "annotation": str(annotation_path),
        "duration_s": round(time.time() - started, 3),
    }
    write_json_atomic(folder.report, report)
    if selected and not report["counts"].get(probe_status.OK):
        # "0 clips written" is a failure, not a success: the manifest above says why each clip failed.
        raise NoUsableClipsError(
            f"none of the {len(selected)} selected clips is usable ({report['counts']}); reasons per clip in {manifest_path}",
            environment=WRITE_FAILED in report["counts"],
        )
    return MsrVttRawResult(output_dir, manifest_path, annotation_path, rows, report)


# --- msr_vtt_annotation --------------------------------------------------------------------------------------------
# MSR-VTT annotation format: schema, captions per clip, the order clips are taken in.

# Splits whose clips are training material, in the order they are taken (the test split is never used).
TRAINING_SPLITS: tuple[str, ...] = ("train", "validate")


class AnnotationError(ValueError):
    """The annotation file is unreadable or does not match the MSR-VTT schema."""


# TypedDicts, not models: pydantic-core validates the 22 MB file straight from JSON bytes about 6x faster
# than into model instances, with the same located error messages. Unknown extra keys are ignored.
MsrVttVideo = TypedDict(
    "MsrVttVideo",
    {
        "id": int,
        "video_id": Annotated[str, Field(min_length=1)],
        "category": Annotated[int, Field(ge=0, le=19)],
        "url": str,
        # The real keys contain a space.
        "start time": float,
        "end time": float,
        "split": Literal["train", "validate", "test"],
    },
)


class MsrVttSentence(TypedDict):
    sen_id: int
    video_id: Annotated[str, Field(min_length=1)]
    caption: str


class MsrVttAnnotation(TypedDict):
    info: NotRequired[dict]
    videos: list[MsrVttVideo]
    sentences: list[MsrVttSentence]


_ANNOTATION_ADAPTER = TypeAdapter(MsrVttAnnotation)


def format_validation_error(error: ValidationError, *, limit: int = 10) -> list[str]:
    """One line per problem: `location: message`, with list indices kept (e.g. `videos[3].split`)."""
    lines = []
    for item in error.errors()[:limit]:
        loc = ""
        for part in item["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        lines.append(f"{loc or '<root>'}: {item['msg']}")
    if error.error_count() > limit:
        lines.append(f"... and {error.error_count() - limit} more problems")
    return lines


# The most an annotation may hold, decompressed: the release's MSRVTT_data.json is about 22 MB, so this leaves room
# for a larger one of the same schema, while a gzip bomb (1 MB inflating to 1 GiB) is refused once this much has
# been read, never inflated whole (label_captions' --help states it).
MAX_ANNOTATION_BYTES = 64 << 20


def read_annotation_bytes(path: Path | str, limit: int = MAX_ANNOTATION_BYTES) -> bytearray:
    """The file's bytes (a `.gz` decompressed as it is read), refused with AnnotationError once they pass `limit`:
    memory stays near `limit` whatever the file inflates to."""
    import gzip
    import zlib

    from prep_platform.lib.files.atomic import unreadable

    path = Path(path)
    compressed = path.suffix == ".gz"  # the official release files are often kept compressed
    data = bytearray()
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as handle:
            while chunk := handle.read(min(1 << 20, limit + 1 - len(data))):
                data += chunk
                if len(data) > limit:
                    raise AnnotationError(
                        f"{path}: {'decompresses to ' if compressed else ''}more than {limit >> 20} MiB "
                        f"(an annotation may hold at most {limit >> 20} MiB): refused")
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read the annotation file: {unreadable(exc)}") from None
    except (EOFError, zlib.error) as exc:  # a gzip cut short or damaged
        raise AnnotationError(f"{path}: cannot read the annotation file: {exc}") from exc
    return data


def load_annotation(path: Path | str) -> MsrVttAnnotation:
    """Parse and validate an MSR-VTT annotation file; errors name the file and each bad field. A file of more than
    MAX_ANNOTATION_BYTES (decompressed) is refused while it is read."""
    path = Path(path)
    raw = read_annotation_bytes(path)
    try:
        # Parsing and validating in one pass (pydantic-core) is faster than json.loads plus validation.
        annotation = _ANNOTATION_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        details = "\n  ".join(format_validation_error(exc))
        raise AnnotationError(f"{path}: not a valid MSR-VTT annotation:\n  {details}") from exc
    problems = annotation_consistency_problems(annotation)
    if problems:
        raise AnnotationError(f"{path}: inconsistent MSR-VTT annotation:\n  " + "\n  ".join(problems[:10]))
    return annotation


def annotation_consistency_problems(annotation: MsrVttAnnotation) -> list[str]:
    """Cross-record problems a per-field schema cannot see: duplicate ids, orphan captions, clips without captions."""
    problems: list[str] = []
    ids = Counter(video["video_id"] for video in annotation["videos"])
    duplicates = sorted(vid for vid, n in ids.items() if n > 1)
    if duplicates:
        problems.append(f"videos: duplicate video_id {duplicates[:5]}")
    captioned = Counter(sentence["video_id"] for sentence in annotation["sentences"])
    orphans = sorted(set(captioned) - set(ids))
    if orphans:
        problems.append(f"sentences: captions for unknown video_id {orphans[:5]}")
    uncaptioned = [vid for vid in ids if vid not in captioned]
    if uncaptioned:
        problems.append(f"videos: no caption for {len(uncaptioned)} clips, e.g. {uncaptioned[:5]}")
    return problems


def captions_by_video(annotation: MsrVttAnnotation) -> dict[str, list[str]]:
    """All captions of each clip, in annotation order."""
    captions: dict[str, list[str]] = {}
    for sentence in annotation["sentences"]:
        captions.setdefault(sentence["video_id"], []).append(sentence["caption"])
    return captions


@dataclass(frozen=True)
class SelectedClip:
    video_id: str
    category: int
    split: str


def select_training_clips(annotation: MsrVttAnnotation, limit: int | None) -> list[SelectedClip]:
    """The first `limit` clips in annotation order, train split first, then validate."""
    selected: list[SelectedClip] = []
    for split in TRAINING_SPLITS:
        for video in annotation["videos"]:
            if video["split"] == split:
                selected.append(SelectedClip(video["video_id"], video["category"], split))
    return selected if limit is None else selected[:limit]
