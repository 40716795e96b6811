"""The frame stage over a scenario's metadata records: each clip's window is read (CPU worker processes) and its
conditioning image written; every clip ends with a status and reason, and the stage's manifest records them."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from prep_platform import __version__
from prep_platform.lib.files.atomic import folder_lock, read_json_if_present, write_json_atomic
from prep_platform.lib.files.fingerprints import file_fingerprint, source_stat
from prep_platform.lib.files.images import write_png
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.safe_paths import UNSAFE_ID, UnsafeIdError
from prep_platform.lib.stages.workers import worker_pool
from prep_platform.lib.statuses import ENVIRONMENT, OK, status_counts
from prep_platform.lib.video.window import FrameConfig, read_window

ProgressCallback = Callable[[int, int, Counter], None]


@dataclass
class FrameStageResult:
    clips: list[dict]
    config: FrameConfig
    duration_s: float

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(clip["status"] for clip in self.clips)


def frame_stage_clip(video_path: str, image_path: str, config: FrameConfig) -> dict:
    """One clip of the frame stage (runs in a worker process): window, conditioning image, record."""
    cpu_started = time.process_time()
    result = read_window(video_path, config, want_frames=False, count_all=True)
    record = result.record()
    if result.status == OK:
        try:
            write_png(image_path, result.first_frame)
            # The size and mtime let the latent stage trust this hash without reading the clip again, and notice
            # when the clip changed after this stage ran.
            record.update(source_stat(video_path))
            record["source_fingerprint"] = file_fingerprint(video_path)
        except OSError as exc:
            record["status"], record["reason"], record["cause"] = "write_failed", f"{image_path}: {exc}", ENVIRONMENT
    record["cpu_s"] = round(time.process_time() - cpu_started, 4)
    return record


def place_outputs(record: dict, layout: DataLayout) -> dict:
    """The record with its image and latent paths set from the layout (never taken from the record itself: a
    metadata file can be edited by hand). UnsafeIdError when its id or scenario cannot be a file name."""
    return {
        **record,
        "image_path": str(layout.image(record["scenario"], record["video_id"])),
        "latent_path": str(layout.latent(record["scenario"], record["video_id"])),
    }


def run_frame_stage(
    records: list[dict],
    layout: DataLayout,
    *,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> FrameStageResult:
    """Window + conditioning image for each record (`video_id`, `scenario`, `video_path`), with the layout's
    frame configuration. Bad clips (and unsafe ids) get a status and a reason; the run goes on."""
    config = layout.frame_config
    started = time.perf_counter()
    counts: Counter = Counter()
    outputs: list[dict] = []

    def collect(record: dict, clip: dict) -> None:
        keep = {k: record[k] for k in ("video_id", "scenario", "split", "video_path", "image_path", "latent_path") if k in record}
        outputs.append({**keep, **clip})
        counts[clip["status"]] += 1
        if progress:
            progress(len(outputs), len(records), counts)

    placed: list[dict] = []
    for record in records:
        try:
            placed.append(place_outputs(record, layout))
        except UnsafeIdError as exc:
            collect({**record, "image_path": "", "latent_path": ""}, {"status": UNSAFE_ID, "reason": str(exc)})
    # One run at a time per image folder; the lock also makes removing a killed run's temp files safe.
    with folder_lock({Path(r["image_path"]).parent for r in placed}, on_wait or say_on_stderr):
        if workers <= 0:
            for record in placed:
                collect(record, _frame_clip_safely(record, config))
        else:
            with worker_pool(workers) as pool:
                futures = [(r, pool.submit(frame_stage_clip, r["video_path"], r["image_path"], config)) for r in placed]
                for record, future in futures:
                    collect(record, _result_or_failure(future, record))
    return FrameStageResult(outputs, config, round(time.perf_counter() - started, 3))


def say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _frame_clip_safely(record: dict, config: FrameConfig) -> dict:
    try:
        return frame_stage_clip(record["video_path"], record["image_path"], config)
    except Exception as exc:  # a clip must never take the run down with it
        return {"status": "failed", "reason": f"{record['video_path']}: {type(exc).__name__}: {exc}"}


def _result_or_failure(future: Future, record: dict) -> dict:
    try:
        return future.result()
    except Exception as exc:  # includes a worker killed by the OS (BrokenProcessPool)
        return {"status": "failed", "reason": f"{record['video_path']}: worker failed: {type(exc).__name__}: {exc}",
                "cause": ENVIRONMENT}


def write_frames_manifest(path: Path | str, result: FrameStageResult, partition: str) -> None:
    write_json_atomic(
        path,
        {
            "partition": partition,
            "package_version": __version__,
            "frame_config": {**result.config.__dict__, "fingerprint": result.config.fingerprint()},
            "counts": result.counts,
            "duration_s": result.duration_s,
            "clips": result.clips,
        },
    )


def read_frames_manifest(path: Path | str) -> dict | None:
    """The manifest a frame stage wrote, or None when it has not run."""
    return read_json_if_present(path)
