"""Panda-70M (optional scaling, manual access): instructions, a balanced scenario subset from a user-provided
CSV with a download estimate, and ingest of the official downloader's shards as a second training source."""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import math
import os
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from prep_platform import __version__
from prep_platform.lib.currency import Derivation, fingerprint_of, is_current
from prep_platform.lib.files.atomic import write_json_atomic, write_text_atomic
from prep_platform.lib.source_files import ManifestRow, read_manifest, write_manifest
from prep_platform.lib.source_files import clip_size, index_tar, member_path, read_member_bytes, split_member
from prep_platform.lib.layout import PandaFolder
from prep_platform.lib.frames.read import probe_video
from prep_platform.lib.safe_paths import UNSAFE_ID, UnsafeIdError, ensure_inside, unsafe_id_reason

CSV_COLUMNS = ["videoID", "url", "timestamp", "caption", "matching_score", "desirable_filtering", "shot_boundary_detection"]
LIST_COLUMNS = ("timestamp", "caption", "matching_score", "desirable_filtering")
SUBSET_SCENARIOS = ("urban", "nature", "transport", "crowd")
# Assumptions of the download estimate, stated in every report: the official config downloads 360p with audio.
ASSUMED_BITRATE_MBPS = 0.75  # ~0.62 Mbit/s H.264 360p + 128 kbit/s AAC
ASSUMED_BANDWIDTH_MBPS = 20.0  # effective per machine after YouTube throttling, not the line rate
NO_CSV_PRESENT = "no_csv_present"  # subset report state: nothing to select from (not an empty success)

INSTRUCTIONS = """# Panda-70M: manual download

Panda-70M (Snap Research) is not downloadable through the Hub: its clip lists are CSV files linked from the
official repository, https://github.com/snap-research/Panda-70M, and the videos come from YouTube with that
repository's own fork of video2dataset (upstream video2dataset cannot read the CSV format).

## 1. Get a CSV (from the links in the repository's README, hosted on Google Drive)

| split | clips | source videos | download size |
| --- | --- | --- | --- |
| full (`panda70m_training_full.csv`) | 70.7M | 3.78M | ~36 TB |
| 10M (`panda70m_training_10m.csv`) | 10.5M | | ~8 TB |
| 2M (`panda70m_training_2m.csv`) | 2.4M | | ~1.6 TB |
| validation / test | 6,000 each | | ~4 GB each |

Put the CSV in this folder. The platform then builds a balanced scenario subset from it (asset
`panda70m_subset`, or `python -m prep_platform.data_prep.download_panda70m --output-dir <this folder>`): a smaller
CSV in the same format plus a download size and time estimate.

## 2. CSV columns (one row per source video; clip-level columns are Python-literal lists)

`videoID,url,timestamp,caption,matching_score,desirable_filtering,shot_boundary_detection`

- `timestamp`: `[['0:00:16.300', '0:00:32.566'], ...]`, one start/end pair per clip
- `caption`: one caption per clip; `matching_score`: caption-video similarity per clip
- `desirable_filtering`: `desirable` (80.5%), `0_low_desirable_score`, `1_still_foreground_image`,
  `2_tiny_camera_movement`, `3_screen_in_screen`, `4_computer_screen_recording`

## 3. Download with the official fork of video2dataset

```bash
git clone https://github.com/snap-research/Panda-70M && cd Panda-70M/dataset_dataloading/video2dataset
pip install -e .
video2dataset --url_list=<folder>/panda70m_subset.csv --url_col=url --caption_col=caption --clip_col=timestamp \\
  --output_folder=<folder>/shards \\
  --save_additional_columns="[matching_score,desirable_filtering,shot_boundary_detection]" \\
  --config=video2dataset/configs/panda70m.yaml
```

It writes 360p clips with audio, 100 samples per shard: `shards/00000/0000000_00000.{mp4,txt,json}`. The
platform ingests that folder as a second training source (asset `panda70m_shards`), beside MSR-VTT.

## 4. Licence

Non-commercial research use only (Panda-70M licence), and the videos stay under the HD-VILA-100M licence and
YouTube's terms. Do not redistribute the videos.

## 5. Rate limits

YouTube answers heavy downloading with HTTP 403/429 and stalls. Keep `processes_count` and `thread_count` low
(e.g. 4 x 4 per IP), spread work over machines or time, and re-run the same command: video2dataset resumes per
shard. Expect some clips to be unavailable (removed videos); count them from the shards' `_stats.json`.
"""


def write_instructions(output_dir: Path | str) -> Path:
    path = PandaFolder(Path(output_dir)).readme
    write_text_atomic(path, INSTRUCTIONS)
    return path


def parse_timestamp(text: str) -> float:
    """'0:00:16.300' -> 16.3 seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"timestamp {text!r} is not H:MM:SS.mmm")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"timestamp {text!r} is negative or not finite")
    return seconds


@dataclass
class PandaClip:
    video_id: str
    url: str
    clip_index: int
    start: str
    end: str
    caption: str
    matching_score: float
    desirable: str
    line: int

    @property
    def duration_s(self) -> float:
        return parse_timestamp(self.end) - parse_timestamp(self.start)


def _literal_list(value: str, column: str) -> list:
    # ast.literal_eval only evaluates literals: no names, calls or attribute access, so a hostile CSV cannot run code.
    parsed = ast.literal_eval(value)
    if not isinstance(parsed, list):
        raise ValueError(f"{column} is a {type(parsed).__name__}, expected a list")
    return parsed


class _CountingLines:
    """Iterates a text file's lines and counts them, so a row's line number stays right after a CSV error."""

    def __init__(self, handle):
        self._lines = iter(handle)
        self.consumed = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed += 1
        return line


def parse_panda_csv(path: Path | str) -> tuple[list[PandaClip], list[dict], int]:
    """Every clip of the CSV; rows that fail to parse come back as {line, videoID, error}, never as an exception.

    Line numbers are the physical line a row starts on, counted outside the csv module: its own `line_num` is not
    advanced by a row that raises (a field over the size limit), which shifted every later row by one.
    """
    path = Path(path)
    clips: list[PandaClip] = []
    errors: list[dict] = []
    rows = 0
    with path.open(newline="", encoding="utf-8") as handle:
        lines = _CountingLines(handle)
        reader = csv.reader(lines)
        header = next(reader, None) or []
        missing = [c for c in CSV_COLUMNS[:6] if c not in header]
        if missing:
            raise ValueError(f"{path}: not a Panda-70M CSV: missing columns {missing}")
        while True:
            line = lines.consumed + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                errors.append({"line": line, "videoID": "", "error": f"CSV syntax: {exc}"})
                continue
            if not values:
                continue  # a blank line
            rows += 1
            row = dict(zip(header, values))
            try:
                if len(values) != len(header):
                    raise ValueError(f"{len(values)} fields, the header has {len(header)}")
                lists = {column: _literal_list(row[column] or "", column) for column in LIST_COLUMNS}
                n = len(lists["timestamp"])
                lengths = {column: len(values) for column, values in lists.items()}
                if any(length != n for length in lengths.values()):
                    raise ValueError(f"clip lists differ in length: {lengths}")
                for index in range(n):
                    start, end = lists["timestamp"][index]
                    clip = PandaClip(row["videoID"], row["url"], index, str(start), str(end), str(lists["caption"][index]),
                                     float(lists["matching_score"][index]), str(lists["desirable_filtering"][index]), line)
                    if clip.duration_s <= 0:
                        raise ValueError(f"clip {index}: end {end} is not after start {start}")
                    clips.append(clip)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
                errors.append({"line": line, "videoID": row.get("videoID") or "", "error": f"{type(exc).__name__}: {exc}"})
    return clips, errors, rows


@dataclass
class SubsetResult:
    selected: list[tuple[PandaClip, str]]
    filtered: dict[str, int]
    per_scenario: dict[str, int]
    quota: int
    estimate: dict
    parse_errors: list[dict] = field(default_factory=list)


def select_subset(
    clips: list[PandaClip],
    labeller,
    *,
    scenarios: tuple[str, ...] = SUBSET_SCENARIOS,
    total: int = 500,
    min_matching_score: float = 0.4,
) -> SubsetResult:
    """Desirable clips above the score threshold, labelled from their caption, the same number per scenario
    (at most `total // len(scenarios)`; best matching score first, ties by id). Every clip left out is counted
    with the reason."""
    if not math.isfinite(min_matching_score):  # nan passes no comparison: the filter would silently be off
        raise ValueError(f"min_matching_score must be a finite number, got {min_matching_score}")
    filtered: Counter = Counter()
    candidates: dict[str, list[PandaClip]] = {name: [] for name in scenarios}
    labeller.prepare([c.caption for c in clips if c.caption])  # embedded in large batches, kept in the cache
    for clip in clips:
        if clip.desirable != "desirable":
            filtered[f"not_desirable:{clip.desirable}"] += 1
            continue
        if not math.isfinite(clip.matching_score):  # nan passes no comparison and inf would rank first
            filtered["non_finite_matching_score"] += 1
            continue
        if clip.matching_score < min_matching_score:
            filtered["below_matching_score"] += 1
            continue
        label = labeller.label([clip.caption])
        if label.scenario not in candidates:
            filtered["other_scenario" if label.scenario else "no_scenario_match"] += 1
            continue
        candidates[label.scenario].append(clip)
    quota = total // len(scenarios)
    # Balanced: every scenario gets as many clips as the scarcest one can give (up to the quota); the shortfall
    # against the quota is in the report rather than made up with extra clips of the plentiful scenarios.
    take = min([quota] + [len(candidates[name]) for name in scenarios])
    selected: list[tuple[PandaClip, str]] = []
    for name in scenarios:
        ranked = sorted(candidates[name], key=lambda c: (-c.matching_score, c.video_id, c.clip_index))
        selected += [(clip, name) for clip in ranked[:take]]
    per_scenario = {name: sum(1 for _, s in selected if s == name) for name in scenarios}
    for name in scenarios:
        filtered[f"over_balance:{name}"] = len(candidates[name]) - per_scenario[name]
    filtered = Counter({k: v for k, v in filtered.items() if v})
    return SubsetResult(selected, dict(sorted(filtered.items())), per_scenario, quota, estimate_download([c for c, _ in selected]))


def estimate_download(clips: list[PandaClip], *, bitrate_mbps: float = ASSUMED_BITRATE_MBPS,
                      bandwidth_mbps: float = ASSUMED_BANDWIDTH_MBPS) -> dict:
    seconds_of_video = sum(clip.duration_s for clip in clips)
    size_bytes = seconds_of_video * bitrate_mbps * 1e6 / 8
    return {
        "clips": len(clips),
        "video_seconds": round(seconds_of_video, 1),
        "estimated_bytes": int(size_bytes),
        "estimated_gb": round(size_bytes / 1e9, 3),
        "estimated_download_hours": round(size_bytes * 8 / (bandwidth_mbps * 1e6) / 3600, 3),
        "assumptions": f"{bitrate_mbps} Mbit/s per clip (360p H.264 + AAC, the official config), "
        f"{bandwidth_mbps} Mbit/s effective download rate",
    }


def write_subset_csv(path: Path | str, selected: list[tuple[PandaClip, str]]) -> None:
    """The official CSV format (one row per source video, clip-level lists), restricted to the selected clips."""
    by_video: dict[str, list[PandaClip]] = {}
    for clip, _ in selected:
        by_video.setdefault(clip.video_id, []).append(clip)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for video_id, group in sorted(by_video.items()):
        group.sort(key=lambda c: c.clip_index)
        writer.writerow([
            video_id, group[0].url, repr([[c.start, c.end] for c in group]), repr([c.caption for c in group]),
            repr([c.matching_score for c in group]), repr([c.desirable for c in group]), "[]",
        ])
    write_text_atomic(path, buffer.getvalue())


def find_csvs(folder: Path | str) -> list[Path]:
    return PandaFolder(Path(folder)).user_csvs()  # not the subset this module writes (ingest manifests sit in ingested/)


def build_panda_subset(folder: Path | str, labeller, *, total: int = 500,
                       min_matching_score: float = 0.4, storage_budget_gb: float = 6.0) -> dict | None:
    """Parse every CSV a user put in `folder`, select the subset, write it with its report. Without a CSV the
    report says so (state `no_csv_present`) and no subset CSV is left from an earlier run."""
    folder = Path(folder)
    panda = PandaFolder(folder)
    csvs = find_csvs(folder)
    if not csvs:
        panda.subset_csv.unlink(missing_ok=True)
        report = {"package_version": __version__, "state": NO_CSV_PRESENT, "inputs": [], "per_scenario": {},
                  "estimate": estimate_download([]),
                  "what_to_do": f"put a Panda-70M CSV in {folder} (see README.md there)"}
        write_json_atomic(panda.subset_report, report)
        return report
    clips, errors, rows = [], [], 0
    for path in csvs:
        try:
            parsed, bad, n = parse_panda_csv(path)
        except (ValueError, UnicodeDecodeError, csv.Error) as exc:  # not a Panda CSV at all: recorded, others go on
            errors.append({"file": path.name, "line": 1, "videoID": "", "error": str(exc)})
            continue
        clips += parsed
        rows += n
        errors += [{**error, "file": path.name} for error in bad]
    result = select_subset(clips, labeller, total=total, min_matching_score=min_matching_score)
    write_subset_csv(panda.subset_csv, result.selected)
    report = {
        "package_version": __version__,
        "state": "selected",
        "inputs": [str(p) for p in csvs],
        "rows": rows,
        "clips_parsed": len(clips),
        "rows_failed": len(errors),
        "parse_errors": errors,
        "settings": {"total": total, "min_matching_score": min_matching_score, "scenarios": list(SUBSET_SCENARIOS),
                     "storage_budget_gb": storage_budget_gb},
        "filtered": result.filtered,
        "quota_per_scenario": result.quota,
        "per_scenario": result.per_scenario,
        "estimate": result.estimate,
        "subset_csv": str(panda.subset_csv),
    }
    write_json_atomic(panda.subset_report, report)
    return report


# --- ingest of downloaded shards --------------------------------------------------------------------------


# Shard-ingest statuses beside the probe's: the clip's files could not be read as the downloader writes them.
BAD_METADATA, BAD_CAPTION, UNSAFE_PATH, DUPLICATE_ID = "bad_metadata", "bad_caption", "unsafe_path", "duplicate_id"


class _ClipRejected(Exception):
    """One shard clip cannot be ingested; carries its status and a reason that names the file."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class _ShardClip:
    """One clip of a download shard and its sidecars, in either layout: `files` (`NNNNN/KEY.mp4` beside `KEY.txt`
    and `KEY.json`) or `webdataset` (members of `NNNNN.tar`, read in place: lib.source_files)."""

    video: str  # a path, or `<tar>::<member>`
    stem: str
    caption_path: str | None  # None: the shard has no such file or member
    meta_path: str | None
    inside: Path | None = None  # files layout: the shards folder no file of the clip may lead out of
    refused: str = ""  # webdataset: why the clip cannot be read in place (a member that is a link), "" when it can

    def read(self, path: str) -> bytes:
        if split_member(path) is None:
            return Path(path).read_bytes()
        return read_member_bytes(path)


def _read_shard_metadata(clip: _ShardClip) -> dict:
    if clip.meta_path is None:
        return {}
    try:
        meta = json.loads(clip.read(clip.meta_path))
    except (OSError, ValueError) as exc:  # ValueError covers JSONDecodeError and undecodable bytes
        raise _ClipRejected(BAD_METADATA, f"{clip.meta_path}: not readable JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise _ClipRejected(BAD_METADATA, f"{clip.meta_path}: expected a JSON object, found a {type(meta).__name__}")
    return meta


def _read_shard_caption(clip: _ShardClip, meta: dict) -> str:
    if clip.caption_path is None:
        return str(meta.get("caption") or "").strip()
    try:
        return clip.read(clip.caption_path).decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise _ClipRejected(BAD_CAPTION, f"{clip.caption_path}: caption is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise _ClipRejected(BAD_CAPTION, f"{clip.caption_path}: cannot read the caption: {exc}") from exc


def _folder_clips(folder: Path, shards: Path) -> list[_ShardClip]:
    clips = []
    for video in sorted(folder.glob("*.mp4")):
        meta, caption = video.with_suffix(".json"), video.with_suffix(".txt")
        clips.append(_ShardClip(str(video), video.stem, str(caption) if caption.exists() else None,
                                str(meta) if meta.exists() else None, shards))
    return clips


def _tar_clips(tar: Path) -> tuple[list[_ShardClip], str]:
    """The clips of a webdataset tar (members grouped by key: the name up to its first dot), and why its headers
    could not all be read ("" when they could). A key with a member that is not a regular file (a symbolic or hard
    link, a device, a FIFO) is a clip refused with the reason, video or not: such a member has no bytes of its own
    to read in place, and it is never skipped without a row."""
    index = index_tar(tar)
    irregular = _irregular_members(tar)
    by_key: dict[str, dict[str, str]] = {}
    for name in [*index.members, *irregular]:
        folder, _, base = name.rpartition("/")
        key, dot, extension = base.partition(".")
        by_key.setdefault(f"{folder}/{key}" if folder else key, {})[extension if dot else ""] = name
    clips = []
    for key, members in sorted(by_key.items()):
        links = [name for name in members.values() if name in irregular]
        if links:
            video = members["mp4"] if "mp4" in members else links[0]
            reason = "; ".join(f"{member_path(tar, name)}: {irregular[name]}: a member that is not a regular file is "
                               f"not read" for name in links)
            clips.append(_ShardClip(member_path(tar, video), key.rpartition("/")[2], None, None, refused=reason))
            continue
        if "mp4" not in members:
            continue
        side = {ext: member_path(tar, members[ext]) if ext in members else None for ext in ("txt", "json")}
        clips.append(_ShardClip(member_path(tar, members["mp4"]), key.rpartition("/")[2], side["txt"], side["json"]))
    return clips, index.problem


def _irregular_members(tar: Path) -> dict[str, str]:
    """name -> what it is, for every member of the tar that is neither a regular file nor a folder (headers only:
    lib.source_files's index lists the regular members alone)."""
    found: dict[str, str] = {}
    if not os.path.isfile(tar):  # a FIFO or a device is never opened
        return found
    try:
        with tarfile.open(tar, mode="r:") as archive:
            while True:
                try:
                    info = archive.next()
                except tarfile.TarError:  # a damaged header: the index reports it; what came before stays
                    break
                if info is None:
                    break
                if info.issym():
                    found[info.name] = f"a symbolic link to {info.linkname!r}"
                elif info.islnk():
                    found[info.name] = f"a hard link to {info.linkname!r}"
                elif not (info.isfile() or info.isdir()):
                    found[info.name] = "a device or FIFO entry"
    except (tarfile.TarError, OSError):
        pass  # not a readable tar: the index says so
    return found


def _ingest_shard_clip(clip: _ShardClip, shard_name: str, min_duration_s: float) -> tuple[str, ManifestRow, str, dict]:
    """(video id, manifest row, caption, source facts) of one downloaded clip; _ClipRejected when it cannot be."""
    reason = shard_name_problem(shard_name)
    if reason:
        raise _ClipRejected(UNSAFE_ID, f"{clip.video}: {reason}")
    if clip.refused:
        raise _ClipRejected(UNSAFE_PATH, clip.refused)
    if clip.inside is not None:
        video = Path(clip.video)
        for path in (video, video.with_suffix(".json"), video.with_suffix(".txt")):
            try:
                ensure_inside(clip.inside, path)  # a symlink pointing out of the shard folder is never read
            except UnsafeIdError as exc:
                raise _ClipRejected(UNSAFE_PATH, f"{path}: a link that leaves the shard folder: {exc}") from exc
    meta = _read_shard_metadata(clip)
    key = meta.get("key", clip.stem)
    reason = unsafe_id_reason(key if isinstance(key, str) else repr(key))
    if reason:
        raise _ClipRejected(UNSAFE_ID, f"{clip.meta_path}: key {reason}")
    video_id = f"panda_{key}"
    reason = unsafe_id_reason(video_id)
    if reason:
        raise _ClipRejected(UNSAFE_ID, f"{clip.video}: {reason}")
    caption = _read_shard_caption(clip, meta)
    probe = probe_video(clip.video, min_duration_s=min_duration_s)
    status, error = probe.status, probe.error
    if status == "ok" and not caption:
        status, error = "no_caption", f"{clip.caption_path or clip.video}: no caption for this clip"
    try:
        size = clip_size(clip.video)
    except OSError:
        size = None
    row = ManifestRow(video_id, clip.video, size, round(probe.fps, 6) if probe.fps else None, probe.frame_count,
                      probe.width, probe.height, probe.duration_s, status, error, -1, "panda70m")
    facts = {k: meta.get(k) for k in ("url", "matching_score", "desirable_filtering", "clips") if k in meta}
    return video_id, row, caption, facts


# --- download shards: each shard folder or tar is ingested on its own, once per version ------------------------


def shard_name_problem(name: str) -> str | None:
    """Why a download shard's name cannot be ingested, None when it can: the one rule the ingest and the sensor
    share. The name becomes the file name of the shard's manifest and a partition key, so it must be a safe id
    (lib.safe_paths: no space, newline or separator, at most 128 characters) and hold no '...' (a range of
    partitions is written `first...last`)."""
    reason = unsafe_id_reason(name)
    if reason:
        return f"shard name {reason}"
    if "..." in name:
        return f"shard name {name!r} holds '...', which separates the ends of a partition range"
    return None


def download_shards(panda: PandaFolder) -> dict[str, Path]:
    """shard name -> its folder (`shards/NNNNN/`, the `files` layout) or tar (`shards/NNNNN.tar`, `webdataset`), in
    name order. The name is a Dagster partition of the ingest (`00000`, `00001.tar`) when shard_name_problem
    accepts it. A `.tar` that is a link is listed even when it leads nowhere: the ingest records why it is refused."""
    shards = panda.shards_dir
    if not shards.is_dir():
        return {}
    found = {}
    for entry in sorted(shards.iterdir()):
        if entry.name.startswith("."):
            continue  # a downloader's temporary file
        if entry.is_dir() or (entry.suffix == ".tar" and (entry.is_file() or entry.is_symlink())):
            found[entry.name] = entry
    return found


def _shard_refusal(shard: Path, shards_dir: Path) -> tuple[str, str] | None:
    """(status, reason) when a shard cannot be read at all, None when it can. As in the files layout, nothing that
    leads out of the shards folder is read (a shard that is a link elsewhere), and a link to nothing is missing; a
    `.tar` that is not a regular file (a link to a FIFO or a device) is never opened."""
    try:
        ensure_inside(shards_dir, shard)
    except UnsafeIdError as exc:
        return UNSAFE_PATH, f"{shard}: a link that leaves the shards folder: {exc}"
    if not shard.exists():
        return "missing", f"{shard}: a link to nothing ({os.readlink(shard)!r})"
    if not shard.is_dir() and not shard.is_file():
        return "unreadable", f"{shard}: not a regular file (a FIFO or a device): never opened"
    return None


def shard_signature(path: Path) -> str:
    """Changes when a shard does: a tar's size and mtime; a folder's file count, total size and newest mtime (the
    downloader adds files to a shard over time). Cheap: stat only."""
    if path.is_file():
        stat = path.stat()
        return f"tar:{stat.st_size}:{stat.st_mtime_ns}"
    files = [entry.stat() for entry in path.iterdir() if entry.is_file()] if path.is_dir() else []
    return f"files:{len(files)}:{sum(f.st_size for f in files)}:{max((f.st_mtime_ns for f in files), default=0)}"


def ingest_download_shard(folder: Path | str, name: str, *, min_duration_s: float = 6.0) -> dict:
    """Probe every clip of one download shard into `ingested/<name>.csv` (the MSR-VTT manifest format, ids prefixed
    `panda_`) and its captions, with the shard's signature; an unchanged shard (same signature, same settings) is
    not read again. A broken clip (unreadable JSON or caption, a dangling or escaping link, a tar member that is a
    link, an unsafe key, a member cut short by a truncated tar) gets its status and a reason naming the file; the
    other clips go on. A shard that is itself a link out of the shards folder, or to nothing, is one refused row."""
    panda = PandaFolder(Path(folder))
    shard = download_shards(panda).get(name)
    if shard is None:
        raise FileNotFoundError(f"{panda.shards_dir / name}: no such download shard (a folder or a .tar)")
    unsafe = shard_name_problem(name)
    if unsafe:  # its manifest cannot be named after it: each clip is reported, nothing is written
        readable = _shard_refusal(shard, panda.shards_dir) is None
        clips = sorted(shard.glob("*.mp4")) if shard.is_dir() and readable else [shard]
        failed = [{"video_id": f"panda_rejected_{n}", "status": UNSAFE_ID, "reason": f"{clip}: {unsafe}"}
                  for n, clip in enumerate(clips)]
        return {"shard": name, "clips": len(failed), "counts": {UNSAFE_ID: len(failed)} if failed else {},
                "manifest": None, "problem": f"{shard}: {unsafe}", "failed": failed, "skipped": False}
    signature = shard_signature(shard)
    settings = {"min_duration_s": min_duration_s, "version": INGEST_VERSION}
    previous = _read_ingest_report(panda.ingest_report(name))
    if is_current(_recorded_ingest(previous), ingest_derivation(signature, settings)):
        return {**previous, "skipped": True}
    rows: list[ManifestRow] = []
    captions: dict[str, list[str]] = {}
    extras: dict[str, dict] = {}

    def rejected(video: str, stem: str, status: str, reason: str) -> ManifestRow:
        # The id of a rejected clip is only a label in the manifest, never a path: a placeholder when unsafe or taken.
        label = f"panda_{Path(name).stem}_{stem}"
        if unsafe_id_reason(label) is not None or label in captions:
            label = f"panda_rejected_{Path(name).stem}_{len(rows)}"
        return ManifestRow(label, video, None, None, None, None, None, None, status, reason, -1, "panda70m")

    webdataset = shard.suffix == ".tar" and not shard.is_dir()
    refusal = _shard_refusal(shard, panda.shards_dir)
    if refusal:  # one row for the whole shard: nothing in it is listed or read
        clips, problem = [], refusal[1]
        rows.append(rejected(str(shard), Path(name).stem, *refusal))
    else:
        clips, problem = _tar_clips(shard) if webdataset else (_folder_clips(shard, panda.shards_dir), "")
    for clip in clips:
        try:
            video_id, row, caption, facts = _ingest_shard_clip(clip, name, min_duration_s)
        except _ClipRejected as exc:
            rows.append(rejected(clip.video, clip.stem, exc.status, exc.reason))
            continue
        except OSError as exc:  # e.g. the clip vanished or cannot be read while it is probed
            rows.append(rejected(clip.video, clip.stem, "unreadable", f"{clip.video}: {exc}"))
            continue
        if video_id in captions:
            rows.append(rejected(clip.video, clip.stem, DUPLICATE_ID, f"{clip.video}: key {video_id[6:]!r} used twice in this shard"))
            continue
        rows.append(row)
        captions[video_id] = [caption] if caption else []
        extras[video_id] = facts
    write_manifest(panda.ingested_manifest(name), rows)
    write_json_atomic(panda.ingested_captions(name), {"captions": captions, "source_meta": extras})
    report = {"shard": name, "layout": "webdataset" if webdataset else "files", "signature": signature,
              "settings": settings, "clips": len(rows), "counts": dict(sorted(Counter(r.status for r in rows).items())),
              "manifest": str(panda.ingested_manifest(name)), "problem": problem,
              "failed": [{"video_id": r.video_id, "status": r.status, "reason": r.error} for r in rows if r.status != "ok"]}
    write_json_atomic(panda.ingest_report(name), report)  # last: it says the shard's files are complete
    return {**report, "skipped": False}


INGEST_VERSION = 3  # bumped when a shard's ingest would come out differently: every shard is read again


def ingest_derivation(signature: str | None, settings: dict) -> Derivation:
    """A shard's ingest (lib.currency): made from the shard (its signature), with the settings (the minimum
    duration), in the ingest's version (recorded in the settings, as reports always have)."""
    return Derivation({"shard": signature}, fingerprint_of({k: v for k, v in settings.items() if k != "version"}),
                      settings.get("version"))


def _recorded_ingest(report: dict | None) -> Derivation | None:
    """What a shard's ingest report records it was made from; None when there is none (or it is not one)."""
    if not isinstance(report, dict) or not isinstance(report.get("settings"), dict):
        return None
    return ingest_derivation(report.get("signature"), report["settings"])


def _read_ingest_report(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def ingest_panda_shards(folder: Path | str, *, min_duration_s: float = 6.0, shards: list[str] | None = None) -> dict:
    """Ingest every download shard (or the named ones): unchanged shards are skipped. The summary of all of them."""
    panda = PandaFolder(Path(folder))
    names = shards if shards is not None else list(download_shards(panda))
    reports = [ingest_download_shard(folder, name, min_duration_s=min_duration_s) for name in names]
    counts: Counter = Counter()
    for report in reports:
        counts.update(report["counts"])
    return {"shards": len(reports), "shards_skipped": sum(r["skipped"] for r in reports),
            "clips": sum(r["clips"] for r in reports), "counts": dict(sorted(counts.items())),
            "manifests": [r["manifest"] for r in reports if r["manifest"]], "problems": [r["problem"] for r in reports if r["problem"]],
            "failed": [failure for r in reports for failure in r["failed"]]}


def ingested_shard_names(panda: PandaFolder) -> list[str]:
    """Every download shard whose ingest finished (its report exists), in shard order."""
    return [name for name in download_shards(panda) if not shard_name_problem(name) and panda.ingest_report(name).exists()]


@dataclass
class IngestedShard:
    manifest: Path
    rows: list[ManifestRow]
    captions: dict[str, list[str]]


def ingested_shards(panda: PandaFolder, names: list[str] | None = None) -> Iterator[IngestedShard]:
    """Every ingested download shard's rows and captions (or those of `names`, as ingested_shard_names listed
    them), one shard at a time (memory: one shard). A key that an earlier shard already gave is marked
    duplicate_id (one id, one cache file)."""
    seen = SeenIds()
    position = 0  # rows so far: a duplicate's id names it, so two duplicates of one key stay distinct
    for name in ingested_shard_names(panda) if names is None else names:
        manifest = panda.ingested_manifest(name)
        shard_captions = json.loads(panda.ingested_captions(name).read_text())["captions"]
        rows, captions, here = [], {}, set()
        manifest_rows = read_manifest(manifest)
        in_earlier_shard = seen.contains([row.video_id for row in manifest_rows])
        for row, earlier in zip(manifest_rows, in_earlier_shard.tolist()):
            if row.status == "ok" and (earlier or row.video_id in here):
                row = replace(row, video_id=f"{row.video_id}_duplicate_{position}", status=DUPLICATE_ID,
                              error=f"{row.path}: key {row.video_id[6:]!r} already used by an earlier shard")
            else:
                here.add(row.video_id)
                captions[row.video_id] = shard_captions.get(row.video_id, [])
            rows.append(row)
            position += 1
        seen.add(here)
        yield IngestedShard(manifest, rows, captions)


class SeenIds:
    """Clip ids seen in earlier shards, as sorted arrays of 64-bit hashes (8 bytes an id, where a set of strings
    costs ~80): a million ids in 8 MB. Two distinct ids share a 64-bit hash with probability ~n^2/2^65 (3e-8 for a
    million), which would mark one clip duplicate_id: recorded, not lost. Arrays merge like a binary counter up to
    LEVEL_CAP ids (so adding n ids costs O(n log n), and a merge never copies more than a level)."""

    LEVEL_CAP = 1 << 17

    def __init__(self):
        self._levels: list[np.ndarray] = []

    @staticmethod
    def _keys(video_ids) -> np.ndarray:
        return np.fromiter((int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "big")
                            for v in video_ids), dtype=np.uint64)

    def contains(self, video_ids: list[str]) -> np.ndarray:
        """For each id, whether it was added before."""
        keys = self._keys(video_ids)
        found = np.zeros(len(keys), dtype=bool)
        for level in self._levels:
            at = np.minimum(np.searchsorted(level, keys), len(level) - 1)
            found |= level[at] == keys
        return found

    def add(self, video_ids) -> None:
        merged = np.sort(self._keys(video_ids))
        while self._levels and len(self._levels[-1]) <= len(merged) and len(self._levels[-1]) + len(merged) <= self.LEVEL_CAP:
            merged = np.sort(np.concatenate([self._levels.pop(), merged]), kind="mergesort")
        if len(merged):
            self._levels.append(merged)
