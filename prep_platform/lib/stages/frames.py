"""The frame stage over a scenario's metadata records: each clip is decoded once (CPU worker processes), its shots
found and up to `windows_per_clip` windows chosen inside shots, each window's conditioning image written; every
clip ends with a status and reason, and the stage's manifest records them, one row per sample (window)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path

from prep_platform import __version__
from prep_platform.lib.files.atomic import folder_lock, read_json_if_present, write_json_atomic
from prep_platform.lib.files.fingerprints import file_fingerprint, source_stat
from prep_platform.lib.files.images import write_png
from prep_platform.lib.layout import WINDOW_SUFFIX, DataLayout, looks_like_window_sample, sample_id
from prep_platform.lib.safe_paths import UNSAFE_ID, UnsafeIdError
from prep_platform.lib.stages.workers import worker_pool
from prep_platform.lib.statuses import ENVIRONMENT, NO_CLEAN_WINDOW, OK, status_counts
from prep_platform.lib.video.shots import ShotSettings
from prep_platform.lib.video.window import FrameConfig, scan_clip

ProgressCallback = Callable[[int, int, Counter], None]


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
    def samples(self) -> list[dict]:
        return [row for row in self.clips if row["status"] == OK]

    def summary(self) -> dict:
        return window_summary(self.clips)

    def cpu_s_per_clip(self) -> float:
        """Worker CPU seconds per clip (each row of a clip carries the clip's time)."""
        per_clip = {row["video_id"]: row.get("cpu_s", 0.0) for row in self.clips}
        return round(sum(per_clip.values()) / max(len(per_clip), 1), 4)


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
        rows.append({**failure, "status": scan.status, "reason": scan.reason})
    else:
        try:
            # The size and mtime let the latent stage trust this hash without reading the clip again, and notice
            # when the clip changed after this stage ran.
            source = {**source_stat(video_path), "source_fingerprint": file_fingerprint(video_path)}
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
    progress: ProgressCallback | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> FrameStageResult:
    """Windows + conditioning images for each record (`video_id`, `scenario`, `video_path`), with the layout's
    frame configuration and the shot settings. Bad clips (and unsafe ids) get a status and a reason; the run
    goes on. Progress counts clips."""
    config = layout.frame_config
    started = time.perf_counter()
    counts: Counter = Counter()
    outputs: list[dict] = []
    done = 0

    def collect(record: dict, rows: list[dict]) -> None:
        nonlocal done
        keep = {k: record[k] for k in ("video_id", "scenario", "split", "video_path", "image_path", "latent_path") if k in record}
        merged = [{**keep, "sample_id": record.get("video_id"), **row} for row in rows]
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
        if workers <= 0:
            for record in placed:
                collect(record, _frame_clip_safely(record, layout, shot_settings))
        else:
            with worker_pool(workers) as pool:
                futures = [(r, pool.submit(frame_stage_clip, r, layout, shot_settings)) for r in placed]
                for record, future in futures:
                    collect(record, _result_or_failure(future, record))
    return FrameStageResult(outputs, config, round(time.perf_counter() - started, 3), shot_settings)


def say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    write_json_atomic(
        path,
        {
            "partition": partition,
            "package_version": __version__,
            "frame_config": {**result.config.__dict__, "fingerprint": result.config.fingerprint()},
            "shot_settings": {**asdict(result.shot_settings), "fingerprint": result.shot_settings.fingerprint()},
            "shot_detection": result.shot_settings.detection_record(),
            "counts": result.counts,
            "windows": result.summary(),
            "duration_s": result.duration_s,
            "clips": result.clips,
        },
    )


def read_frames_manifest(path: Path | str) -> dict | None:
    """The manifest a frame stage wrote, or None when it has not run."""
    return read_json_if_present(path)
