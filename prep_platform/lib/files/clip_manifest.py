"""The clip manifest: one row per selected clip with what probing found, written as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from prep_platform.lib.files.atomic import remove_stale_temp_files, write_text_atomic
from prep_platform.lib.statuses import OK, status_counts



@dataclass
class ManifestRow:
    video_id: str
    path: str
    bytes: int | None
    fps: float | None
    frame_count: int | None
    width: int | None
    height: int | None
    duration_s: float | None
    status: str
    error: str
    category: int
    source_split: str


MANIFEST_COLUMNS: list[str] = [f.name for f in fields(ManifestRow)]
_INT_COLUMNS = {"bytes", "frame_count", "width", "height", "category"}
_FLOAT_COLUMNS = {"fps", "duration_s"}


def write_manifest(path: Path | str, rows: Iterable[ManifestRow]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    remove_stale_temp_files(Path(path).parent)  # what a killed write of this or another source file left
    write_text_atomic(path, buffer.getvalue())


class ManifestError(ValueError):
    """The manifest file is missing or malformed."""


def read_manifest(path: Path | str) -> list[ManifestRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the clip manifest: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ManifestError(f"{path}: manifest lacks columns {sorted(missing)}")
    rows = []
    for line_number, raw in enumerate(reader, start=2):
        try:
            values = {}
            for name in MANIFEST_COLUMNS:
                value = raw[name]
                if name in _INT_COLUMNS:
                    values[name] = int(value) if value != "" else None
                elif name in _FLOAT_COLUMNS:
                    values[name] = float(value) if value != "" else None
                else:
                    values[name] = value
            rows.append(ManifestRow(**values))
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{path}: line {line_number}: {exc}") from exc
    return rows


def manifest_status_counts(rows: Iterable[ManifestRow]) -> dict[str, int]:
    return status_counts(row.status for row in rows)


def manifest_file_problems(rows: Iterable[ManifestRow]) -> list[str]:
    """Rows with status ok whose file is gone or has another size than recorded."""
    problems = []
    for row in rows:
        if row.status != OK:
            continue
        file = Path(row.path)
        if not file.exists():
            problems.append(f"{row.video_id}: {file} does not exist")
        elif file.stat().st_size != row.bytes:
            problems.append(f"{row.video_id}: {file} has {file.stat().st_size} bytes, manifest records {row.bytes}")
    return problems
