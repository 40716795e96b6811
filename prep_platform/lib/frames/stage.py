"""The frames room, the stage: each clip of a scenario's shard scanned once, its windows chosen, their conditioning
images written (PNG), and the manifest that records every clip's status and reason.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from prep_platform import __version__
from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files import row_table
from prep_platform.lib.files.atomic import folder_lock, write_bytes_atomic
from prep_platform.lib.source_files import source_identity
from prep_platform.lib.files.row_table import column
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import EMPTY, NO_VIDEO_STREAM, TOO_SHORT, UNREADABLE
from prep_platform.lib.frames.scan import scan_clip
from prep_platform.lib.layout import WINDOW_SUFFIX, DataLayout, looks_like_window_sample, sample_id
from prep_platform.lib.progress import ProgressCallback, say_on_stderr
from prep_platform.lib.safe_paths import UNSAFE_ID, UnsafeIdError
from prep_platform.lib.sample import Sample
from prep_platform.lib.frame_config import ShotSettings
from prep_platform.lib.frames.workers import worker_pool
from prep_platform.lib.statuses import ENVIRONMENT, NO_CLEAN_WINDOW, OK, status_counts

# --- frames --------------------------------------------------------------------------------------------------------
# The frame stage over a scenario's metadata records: each clip is decoded once (CPU worker processes), its shots
# found and up to `windows_per_clip` windows chosen inside shots, each window's conditioning image written; every
# clip ends with a status and reason, and the stage's manifest records them, one row per sample (window).

@dataclass
class FrameRow:
    """A row of the frames manifest: one window of a clip (a sample, with its conditioning image), or the clip's one
    row when it gave none (its status and reason). The manifest's Parquet columns come from these fields."""

    video_id: str = column("the clip")
    sample_id: str = column("the sample: the clip id, or <id>__w<k> for its k-th further window")
    scenario: str = column("the clip's scenario")
    split: str | None = column("train or validation")
    status: str = column("ok, or why the clip gave no window (too_short, no_clean_window, unreadable, ...)")
    reason: str | None = column("what went wrong, naming the file")
    cause: str | None = column("environment when the machine failed, not the clip (never reused)")
    video_path: str = column("the source clip (a webdataset member is <tar>::<member>)")
    image_path: str = column("the window's conditioning image (from the layout)")
    latent_path: str = column("the window's latent cache (from the layout)")
    window_index: int | None = column("0 for the clip's primary window")
    window_start_s: float | None = column("window start in the source, seconds")
    window_end_s: float | None = column("window end in the source, seconds")
    shot_index: int | None = column("the shot the window lies in")
    shot: list[float] | None = column("that shot's [start, end], seconds")
    clean_window: bool | None = column("False: no shot held a window and the best one was kept, spanning cuts")
    cuts_in_window: list[float] | None = column("cuts inside a window kept across them, seconds")
    padded_frames: int | None = column("frames repeated at the end of a short clip")
    crop_box: list[float] | None = column("x0, y0, x1, y1 in source pixels")
    source_fps: float | None = column("the source's frame rate")
    decoded_frames: int | None = column("frames decoded")
    declared_frames: int | None = column("frames the container header declares")
    source_width: int | None = column("source width, pixels")
    source_height: int | None = column("source height, pixels")
    warning: str | None = column("a note that did not stop the clip")
    shots: list | None = column("every shot [start, end] of the clip")
    shot_detection: dict | None = column("the detector and its settings")
    source_bytes: int | None = column("the source's size when read")
    source_mtime_ns: int | None = column("the source's mtime when read")
    source_fingerprint: str | None = column("the source's sha256 (the latent stage trusts it while size and mtime hold)")
    cpu_s: float | None = column("worker CPU seconds of the clip (0 when reused)")
    reused: bool | None = column("taken from the last run without decoding")
    frames_key: str | None = column("frame configuration + shot settings the row was made with")
    format_version: int | None = column("the frame rows' format (FRAME_ROWS_VERSION; absent: 1)")


@dataclass
class FrameStageResult:
    """One row per sample (a window of a clip, with its conditioning image) and one per clip that gave none."""

    clips: list[dict]
    config: FrameConfig
    duration_s: float
    shot_settings: ShotSettings = ShotSettings()

    @property
    def counts(self) -> dict[str, int]:
        """Clips (not windows) by status."""
        return status_counts(clip_statuses(self.clips).values())

    @property
    def samples(self) -> list[Sample]:
        """The windows the stage gave, typed: what the latent stage encodes."""
        return frame_samples(self.clips)

    def summary(self) -> dict:
        return window_summary(self.clips)

    @property
    def clips_reused(self) -> int:
        """Clips taken from the previous run without decoding (source, frame configuration, shot settings unchanged)."""
        return len({row["video_id"] for row in self.clips if row.get("reused")})

    def cpu_s_per_clip(self) -> float:
        """Worker CPU seconds per clip (each row of a clip carries the clip's time)."""
        per_clip = {row["video_id"]: row.get("cpu_s", 0.0) for row in self.clips}
        return round(sum(per_clip.values()) / max(len(per_clip), 1), 4)


def frame_samples(rows: list[dict]) -> list[Sample]:
    """The ok rows of a frame stage (or of its manifest) as samples: the file boundary, where a value of another
    type is refused (SampleTypeError naming the sample and the column)."""
    return [Sample.from_frame_row(row) for row in rows if row["status"] == OK]


def clip_statuses(rows: list[dict]) -> dict[str, str]:
    """video_id -> the clip's status: ok when any of its windows is ok, else its (first) failure."""
    statuses: dict[str, str] = {}
    for row in rows:
        if row["status"] == OK or row["video_id"] not in statuses:
            statuses[row["video_id"]] = row["status"]
    return statuses


def window_summary(rows: list[dict]) -> dict:
    """Clips by number of shots, windows taken, clips dropped for no_clean_window (and their share), windows kept
    across cuts: what the asset metadata, the checks and the tools' summaries show."""
    statuses = clip_statuses(rows)
    shots_per_clip: dict[str, int] = {}
    for row in rows:
        if "shots" in row and row["shots"]:
            shots_per_clip[row["video_id"]] = len(row["shots"])
    by_shots = Counter(shots_per_clip.values())
    dropped = sum(status == NO_CLEAN_WINDOW for status in statuses.values())
    return {
        "clips": len(statuses),
        "clips_by_shot_count": {str(k): by_shots[k] for k in sorted(by_shots)},
        "windows_taken": sum(row["status"] == OK for row in rows),
        "clips_with_windows": sum(status == OK for status in statuses.values()),
        "clips_no_clean_window": dropped,
        "no_clean_window_share": round(dropped / len(statuses), 4) if statuses else 0.0,
        "windows_spanning_cuts": sum(row["status"] == OK and row.get("clean_window") is False for row in rows),
    }


def frame_stage_clip(record: dict, layout: DataLayout, shot_settings: ShotSettings) -> list[dict]:
    """One clip of the frame stage (runs in a worker process): scan it once (frame count, shots), then one row per
    chosen window with its conditioning image; a clip that gives none gets one row with its status and reason."""
    cpu_started = time.process_time()
    video_path, video_id, scenario = record["video_path"], record["video_id"], record["scenario"]
    scan = scan_clip(video_path, layout.frame_config, shot_settings)
    clip = scan.clip_record()
    # A clip that gives no window keeps its first window's name and paths in its one row.
    failure = {**clip, "sample_id": video_id, "window_index": 0, "image_path": record["image_path"],
               "latent_path": record["latent_path"]}
    rows: list[dict] = []
    if scan.status != OK:
        rows.append({**failure, **_source_identity(video_path), "status": scan.status, "reason": scan.reason})
    else:
        try:
            # The size and mtime let the latent stage trust this hash without reading the clip again, and notice
            # when the clip changed after this stage ran.
            source = source_identity(video_path)
            for window in scan.windows:
                sample = sample_id(video_id, window.window_index)
                image_path = layout.image(scenario, sample)
                write_png(image_path, window.first_frame)
                rows.append({**clip, **window.record(), **source, "sample_id": sample, "image_path": str(image_path),
                             "latent_path": str(layout.latent(scenario, sample))})
        except OSError as exc:
            rows = [{**failure, "status": "write_failed", "reason": f"{record['image_path']}: {exc}", "cause": ENVIRONMENT}]
    cpu_s = round(time.process_time() - cpu_started, 4)
    return [{**row, "cpu_s": cpu_s} for row in rows]


def _source_identity(video_path: str) -> dict:
    """Size, mtime and content hash of a clip that failed for its content (too short, no clean window): with them
    an unchanged clip is not decoded again to fail the same way. Nothing when the file cannot be read."""
    try:
        return source_identity(video_path)
    except OSError:
        return {}


# Bumped when a frame row's meaning changes: rows of an older format are never reused. Rows written before they
# recorded it (no format_version) are of version 1.
FRAME_ROWS_VERSION = 1


def frame_stage_key(config: FrameConfig, shot_settings: ShotSettings) -> str:
    """What, besides the clip itself, decides a clip's frame rows: the frame configuration and the shot settings
    (the settings of a row's derivation; the format version is in the payload too, as it was before lib.currency
    compared it on its own, so existing rows stay current). Recorded on every row."""
    payload = f"{config.fingerprint()}:{shot_settings.fingerprint()}:{FRAME_ROWS_VERSION}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def frame_derivation(source_path: str | None, source_fingerprint: str | None, key: str | None,
                     format_version: int | None = FRAME_ROWS_VERSION) -> Derivation:
    """A frame row's derivation (lib.currency): made from the clip at this path with these bytes, under the stage
    key (frame configuration and shot settings), in the rows' format."""
    return Derivation({"source": source_fingerprint, "source_path": source_path}, key, format_version)


def _row_derivation(row: dict) -> Derivation:
    return frame_derivation(row.get("video_path"), row.get("source_fingerprint"), row.get("frames_key"),
                            row.get("format_version", 1))


def reusable_rows(record: dict, previous: list[dict], layout: DataLayout, key: str) -> list[dict] | None:
    """The previous run's rows of this clip, refreshed, when decoding it again would give the same: each row's
    derivation current (lib.currency: same source path and bytes, by the one source-identity rule, same stage key,
    same format) and every conditioning image still on disk. A failure is reused only when it was the clip's own
    (too short, no clean window): never one of the machine's. None: decode the clip."""
    if not previous or any(row.get("cause") == ENVIRONMENT or row["status"] not in (OK, *_CONTENT_FAILURES)
                           for row in previous):
        return None
    try:
        # Stat only while the clip's size and mtime are the recorded ones; a touched but unchanged clip is hashed
        # once and its row keeps the new mtime, so the next run is stat only again.
        source = source_identity(record["video_path"], previous[0])
    except OSError:
        return None
    expected = frame_derivation(record["video_path"], source["source_fingerprint"], key)
    if not all(is_current(_row_derivation(row), expected) for row in previous):
        return None
    stat = {k: source[k] for k in ("source_bytes", "source_mtime_ns")}
    rows = []
    for row in previous:
        # Paths come from the layout, never from the manifest (one trust rule for every stage): the record's were
        # just placed by it; a further window's are built the same way.
        sample = row.get("sample_id") or record["video_id"]
        first = sample == record["video_id"]
        image = record["image_path"] if first else str(layout.image(record["scenario"], sample))
        if row["status"] == OK and not os.path.exists(image):
            return None
        latent = record["latent_path"] if first else str(layout.latent(record["scenario"], sample))
        rows.append({**row, **stat, "image_path": image, "latent_path": latent, "cpu_s": 0.0, "reused": True})
    return rows


# Failures that say something about the clip's content and come out the same on every decode of the same bytes.
_CONTENT_FAILURES = (TOO_SHORT, NO_CLEAN_WINDOW, UNREADABLE, NO_VIDEO_STREAM, EMPTY)


def place_outputs(record: dict, layout: DataLayout, shot_settings: ShotSettings = ShotSettings()) -> dict:
    """The record with its (first window's) image and latent paths set from the layout (never taken from the record
    itself: a metadata file can be edited by hand). UnsafeIdError when its id or scenario cannot be a file name, or
    when, with several windows per clip, its id could be another clip's window (`x__w2`)."""
    if shot_settings.windows_per_clip > 1 and looks_like_window_sample(str(record["video_id"])):
        raise UnsafeIdError(f"video_id {record['video_id']!r} ends like the name of another clip's window "
                            f"(<id>{WINDOW_SUFFIX}<k>): refused while clips give {shot_settings.windows_per_clip} windows")
    return {
        **record,
        "image_path": str(layout.image(record["scenario"], record["video_id"])),
        "latent_path": str(layout.latent(record["scenario"], record["video_id"])),
    }


def run_frame_stage(
    records: list[dict],
    layout: DataLayout,
    *,
    shot_settings: ShotSettings = ShotSettings(),
    workers: int = 1,
    previous: list[dict] | None = None,
    progress: ProgressCallback | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> FrameStageResult:
    """Windows + conditioning images for each record (`video_id`, `scenario`, `video_path`), with the layout's
    frame configuration and the shot settings. Bad clips (and unsafe ids) get a status and a reason; the run
    goes on. A clip whose rows in `previous` (the last manifest's) are still current is not decoded again
    (`reusable_rows`). Progress counts clips."""
    config = layout.frame_config
    key = frame_stage_key(config, shot_settings)
    previous_rows: dict[str, list[dict]] = {}
    for row in previous or []:
        previous_rows.setdefault(row.get("video_id"), []).append(row)
    started = time.perf_counter()
    counts: Counter = Counter()
    outputs: list[dict] = []
    done = 0

    def collect(record: dict, rows: list[dict]) -> None:
        nonlocal done
        keep = {k: record[k] for k in ("video_id", "scenario", "split", "video_path", "image_path", "latent_path") if k in record}
        merged = [{**keep, "sample_id": record.get("video_id"), **row, "frames_key": key,
                   "format_version": FRAME_ROWS_VERSION} for row in rows]
        outputs.extend(merged)
        done += 1
        counts.update(clip_statuses(merged).values())
        if progress:
            progress(done, len(records), counts)

    placed: list[dict] = []
    for record in records:
        try:
            placed.append(place_outputs(record, layout, shot_settings))
        except UnsafeIdError as exc:
            collect({**record, "image_path": "", "latent_path": ""}, [{"status": UNSAFE_ID, "reason": str(exc)}])
    # One run at a time per image folder; the lock also makes removing a killed run's temp files safe.
    with folder_lock({Path(r["image_path"]).parent for r in placed}, on_wait or say_on_stderr):
        to_decode = []
        for record in placed:  # checked under the lock: a concurrent run cannot remove an image meanwhile
            reused = reusable_rows(record, previous_rows.get(record["video_id"], []), layout, key)
            if reused is None:
                to_decode.append(record)
            else:
                collect(record, reused)
        if workers <= 0 or not to_decode:
            for record in to_decode:
                collect(record, _frame_clip_safely(record, layout, shot_settings))
        else:
            with worker_pool(workers) as pool:
                futures = [(r, pool.submit(frame_stage_clip, r, layout, shot_settings)) for r in to_decode]
                for record, future in futures:
                    collect(record, _result_or_failure(future, record))
    return FrameStageResult(outputs, config, round(time.perf_counter() - started, 3), shot_settings)


def _frame_clip_safely(record: dict, layout: DataLayout, shot_settings: ShotSettings) -> list[dict]:
    try:
        return frame_stage_clip(record, layout, shot_settings)
    except Exception as exc:  # a clip must never take the run down with it
        return [{"status": "failed", "reason": f"{record['video_path']}: {type(exc).__name__}: {exc}"}]


def _result_or_failure(future: Future, record: dict) -> list[dict]:
    try:
        return future.result()
    except Exception as exc:  # includes a worker killed by the OS (BrokenProcessPool)
        return [{"status": "failed", "reason": f"{record['video_path']}: worker failed: {type(exc).__name__}: {exc}",
                 "cause": ENVIRONMENT}]


def write_frames_manifest(path: Path | str, result: FrameStageResult, partition: str) -> None:
    """The rows (Parquet, typed by FrameRow) and the JSON view of the shard's frame stage."""
    row_table.write_manifest(
        path,
        {
            "partition": partition,
            "package_version": __version__,
            "frame_config": {**result.config.__dict__, "fingerprint": result.config.fingerprint()},
            "shot_settings": {**asdict(result.shot_settings), "fingerprint": result.shot_settings.fingerprint()},
            "shot_detection": result.shot_settings.detection_record(),
            "counts": result.counts,
            "clips_reused": result.clips_reused,
            "windows": result.summary(),
            "duration_s": result.duration_s,
        },
        "clips", result.clips, FrameRow,
    )


def read_frames_manifest(path: Path | str) -> dict | None:
    """The manifest a frame stage wrote (its rows under "clips"), or None when it has not run (or stopped before
    it was whole)."""
    return row_table.read_manifest(path, "clips", FrameRow)


# --- images --------------------------------------------------------------------------------------------------------
# PNG files: conditioning images and the contact sheet of a scenario's images.

def write_png(path: Path | str, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, encoded.tobytes())


def contact_sheet(images: list[tuple[str, str]], path: Path | str, *, columns: int = 4, thumb_width: int = 240) -> Path | None:
    """A grid of (label, PNG path) thumbnails, labelled, for a quick look at a scenario's conditioning images."""
    thumbs = []
    for label, image_path in images:
        image = cv2.imread(str(image_path))
        if image is None:
            continue
        height = max(1, round(image.shape[0] * thumb_width / image.shape[1]))
        thumb = cv2.resize(image, (thumb_width, height), interpolation=cv2.INTER_AREA)
        cv2.putText(thumb, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(thumb, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        thumbs.append(thumb)
    if not thumbs:
        return None
    height = max(t.shape[0] for t in thumbs)
    rows = []
    for start in range(0, len(thumbs), columns):
        row = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in thumbs[start : start + columns]]
        row += [np.zeros_like(row[0])] * (columns - len(row))
        rows.append(np.hstack(row))
    ok, encoded = cv2.imencode(".png", np.vstack(rows))
    write_bytes_atomic(path, encoded.tobytes())
    return Path(path)
