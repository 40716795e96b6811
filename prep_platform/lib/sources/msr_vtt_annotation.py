"""MSR-VTT annotation format: schema, captions per clip, the order clips are taken in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict



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
