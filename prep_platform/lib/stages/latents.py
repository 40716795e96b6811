"""The latent stage: one encoder, fed by worker processes that decode and resize the next clips while the VAE
runs; a writer thread writes each clip's self-describing cache file. Planning first: a current cache is skipped
and a relabelled clip's cache moved, so only new or stale clips are encoded, and the model is loaded only when
one is. Start-up overlaps: the decode workers start, and the first windows decode, while the model loads (and
compiles).

Host memory is bounded by `prefetch` decoded windows plus one batch plus the writer's queue, whatever the number
of clips.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prep_platform import __version__
from prep_platform.lib.files import row_table
from prep_platform.lib.files.row_table import column
from prep_platform.lib.files.atomic import folder_lock
from prep_platform.lib.currency import Derivation, is_current, unchanged_since
from prep_platform.lib.source_files import source_identity
from prep_platform.lib.files.latent_file import (
    LatentHeader,
    config_fingerprint,
    latent_derivation,
    latent_values_problem,
    recorded_derivation,
    write_latent_file,
)
from prep_platform.lib.layout import DataLayout, clip_of_latent_file, latent_files, latent_in, sample_id_of, variant_path
from prep_platform.lib.safe_paths import UnsafeIdError
from prep_platform.lib.sample import Sample, SourceFile, Window
from prep_platform.lib.progress import ProgressCallback, say_on_stderr
from prep_platform.lib.frames.workers import worker_pool
from prep_platform.lib.statuses import CACHED_STATUSES, ENVIRONMENT, OK, status_counts
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import read_window



@dataclass
class LatentItem:
    video_id: str
    video_path: str
    latent_path: Path  # for augmentation "none"; variants sit beside it
    source_fingerprint: str
    scenario: str = ""
    sample_id: str = ""  # the window's name ("": the clip's id)
    window: Window | None = None  # the window the frame stage chose (None: the configured window)

    @property
    def name(self) -> str:
        return self.sample_id or self.video_id

    @property
    def source(self) -> SourceFile:
        return SourceFile(self.video_path, self.source_fingerprint)

    @property
    def window_start_s(self) -> float | None:
        return self.window.window_start_s if self.window else None

    def config_fingerprint(self, frame_fingerprint: str, vae_fingerprint: str, augmentation: str) -> str:
        return config_fingerprint(frame_fingerprint, vae_fingerprint, augmentation, window=self.window_key())

    def derivation(self, frame_fingerprint: str, vae_fingerprint: str, augmentation: str) -> Derivation:
        """The derivation this run would give the sample's cache (lib.currency): its source, its configuration, the
        latent format."""
        return latent_derivation(self.source_fingerprint,
                                 self.config_fingerprint(frame_fingerprint, vae_fingerprint, augmentation))

    def window_key(self) -> str:
        """What of the window decides the cache (Window.key; "" for the configured window)."""
        return self.window.key() if self.window else ""


@dataclass
class LatentStageResult:
    clips: list[dict] = field(default_factory=list)
    duration_s: float = 0.0
    encode_seconds: float = 0.0  # time inside the VAE
    encoded_clips: int = 0
    orphaned: list[str] = field(default_factory=list)  # cache files in these folders that no clip claims
    startup_s: float | None = None  # from the stage's start to the first cache file written (None: none written)
    encoder: dict = field(default_factory=dict)  # how it encoded: batch size and why, compiled, tiling, model load

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(clip["status"] for clip in self.clips)


def _decode_for_latents(video_path: str, config: FrameConfig, start_s: float | None = None) -> tuple[str, str, np.ndarray | None, dict]:
    """Runs in a worker: the window's frames (from `start_s`, the window the frame stage chose), resized and
    cropped, plus the facts the header records."""
    result = read_window(video_path, config, want_frames=True, count_all=False, start_s=start_s)
    return result.status, result.reason, result.frames, result.record()


def plan_latent_stage(
    items: Iterable[LatentItem], *, frame_fingerprint: str, vae_fingerprint: str, augment: bool, latent_folders: list[Path],
    previous: Iterable[dict] = (),
) -> tuple[list[tuple[LatentItem, list[str]]], list[dict]]:
    """Split the clips into what must be encoded (with the variants missing) and what is already current.

    A cached file is current when the derivation it records (source, configuration, format) is the one this run
    would make (lib.currency.is_current). A current file found under another scenario's folder (the clip was
    relabelled) is moved, not re-encoded. `previous`: the last manifest's rows; what a cache file records is read
    from the row that recorded its size and mtime while both still hold, without opening it (the stat shortcut,
    lib.currency.unchanged_since); the header is read only for files that changed or were never recorded.
    """
    variants = ["none", "hflip"] if augment else ["none"]
    rows = {row["latent_path"]: row for row in previous if row.get("cache_mtime_ns") is not None}
    to_encode: list[tuple[LatentItem, list[str]]] = []
    done: list[dict] = []
    for item in items:
        missing = []
        for variant in variants:
            target = variant_path(item.latent_path, variant)
            expected = item.derivation(frame_fingerprint, vae_fingerprint, variant)
            stat = _stat(target)
            if stat is not None and is_current(_recorded(target, stat, rows.get(str(target))), expected):
                done.append(_clip_row(item, variant, "skipped", target, "cache is current", facts=(stat, expected)))
                continue
            moved_from = _find_elsewhere(item, variant, latent_folders, expected)
            if moved_from is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(moved_from, target)
                done.append(_clip_row(item, variant, "moved", target, f"relabelled: moved from {moved_from}",
                                      facts=(_stat(target), expected)))
                continue
            missing.append(variant)
        if missing:
            to_encode.append((item, missing))
    return to_encode, done


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _stat_facts(stat: os.stat_result) -> dict:
    """A cache file's stat under the names a manifest row records it by."""
    return {"cache_bytes": stat.st_size, "cache_mtime_ns": stat.st_mtime_ns}


def _recorded(path: Path, stat: os.stat_result, row: dict | None) -> Derivation | None:
    """What the cache at `path` records it was made from: the last manifest's row while the file's size and mtime
    are the ones that row recorded (nothing opened), else its header (None: unreadable). A row of a version that
    did not record the format version is not a whole record: the header is read once, the new row records it."""
    if row is not None and row.get("format_version") is not None and unchanged_since(row, _stat_facts(stat)):
        return latent_derivation(row.get("source_fingerprint"), row.get("config_fingerprint"), row["format_version"])
    return recorded_derivation(path)


def _find_elsewhere(item: LatentItem, variant: str, latent_folders: list[Path], expected: Derivation) -> Path | None:
    """A current cache of this sample in another scenario's folder (the clip was relabelled): moved, not re-encoded.
    `latent_folders`: the layout's (DataLayout.latent_scenario_folders)."""
    for folder in latent_folders:
        try:
            candidate = latent_in(folder, item.name, variant)
        except UnsafeIdError:
            continue  # a file there that is a link out of the folder is never taken
        if candidate != variant_path(item.latent_path, variant) and candidate.exists():
            if is_current(recorded_derivation(candidate), expected):
                return candidate
    return None



@dataclass
class LatentRow:
    """A row of the latents manifest: one cache file of a sample (its plain or flipped variant). The manifest's
    Parquet columns come from these fields."""

    video_id: str = column("the clip")
    sample_id: str = column("the sample (window) the cache is of")
    augmentation: str = column("none, or hflip")
    status: str = column("encoded, skipped (current), or why not (failed, ...)")
    latent_path: str = column("the cache file (from the layout)")
    reason: str | None = column("what went wrong, naming the file")
    cause: str | None = column("environment when the machine failed, not the clip")
    cache_bytes: int | None = column("the cache file's size when written or checked")
    cache_mtime_ns: int | None = column("its mtime then: the next run trusts the file while both hold")
    source_fingerprint: str | None = column("the source clip's sha256 the cache was made from")
    config_fingerprint: str | None = column("the encoder and frame configuration the cache was made with")
    format_version: int | None = column("the latent format it was written in (with the two above and the stat: "
                                        "what the next run compares, lib.currency)")


def _clip_row(item: LatentItem, variant: str, status: str, path: Path, reason: str = "", cause: str = "",
              facts: tuple | None = None) -> dict:
    """A manifest row. `facts` (the cache file's stat, the derivation it records) for a file that is current: the
    next run takes the derivation from this row while the file's size and mtime stay these."""
    row = {"video_id": item.video_id, "sample_id": item.name, "augmentation": variant, "status": status,
           "latent_path": str(path), "reason": reason}
    if cause:
        row["cause"] = cause
    if facts is not None and facts[0] is not None:
        stat, derivation = facts
        row.update(**_stat_facts(stat), source_fingerprint=derivation.inputs["source"],
                   config_fingerprint=derivation.settings, format_version=derivation.format_version)
    return row


def run_latent_stage(
    items: list[LatentItem],
    layout: DataLayout,
    encoder,  # lib.models.vae.VaeEncoder (or anything with its encode / identity interface)
    *,
    augment: bool = False,
    workers: int = 1,
    prefetch: int = 4,
    progress: ProgressCallback | None = None,
    on_wait: Callable[[str], None] | None = None,
    scenario_clips: set[str] | None = None,
    previous: Iterable[dict] = (),
) -> LatentStageResult:
    """Encode the items whose caches are missing or stale. One run at a time per cache folder: a second run
    waits for the first (saying so) and then finds its caches current, instead of encoding everything again.
    `scenario_clips`: every clip of the scenario, when the items are one shard of it (the cache folder is shared
    by the scenario's shards: a file of another shard's clip is not an orphan). `previous`: the last manifest's
    rows, so unchanged cache files are known current by their stat (plan_latent_stage)."""
    with folder_lock({item.latent_path.parent for item in items}, on_wait or say_on_stderr):
        result = _run_latent_stage(items, layout.frame_config, encoder, latent_folders=layout.latent_scenario_folders(),
                                   compile_cache=str(layout.compile_cache), augment=augment, workers=workers,
                                   prefetch=prefetch, progress=progress, previous=previous)
        result.orphaned = _orphans(items, result.clips, scenario_clips)
        return result


def _orphans(items: list[LatentItem], rows: list[dict], scenario_clips: set[str] | None) -> list[str]:
    """Cache files in these folders that no clip claims (a clip relabelled away whose new scenario has not run
    yet, or dropped from the metadata, or a window no longer chosen): reported, not deleted; the new scenario's run
    moves a relabelled clip's file. With `scenario_clips`, files of the scenario's other shards are theirs."""
    claimed = {str(Path(row["latent_path"])) for row in rows}
    ours = {item.video_id for item in items}
    orphans = []
    for folder in {item.latent_path.parent for item in items}:
        for path in latent_files(folder):
            clip = clip_of_latent_file(path)
            other_shard = scenario_clips is not None and clip in scenario_clips and clip not in ours
            if str(path) not in claimed and not other_shard:
                orphans.append(str(path))
    return sorted(orphans)


def _run_latent_stage(items, config, encoder, *, latent_folders: list[Path], compile_cache: str, augment, workers, prefetch,
                      progress, previous=()) -> LatentStageResult:
    started = time.perf_counter()
    if encoder.profile.name != config.profile:  # a VAE of another model would make caches no trainer of this one reads
        raise ValueError(f"the VAE is {encoder.profile.name}'s but the frames are {config.profile}'s: pick one model "
                         f"profile for both (--profile / PREP_PLATFORM_PROFILE)")
    frame_fp, vae_fp = config.fingerprint(), encoder.identity_fingerprint()
    to_encode, done = plan_latent_stage(
        items, frame_fingerprint=frame_fp, vae_fingerprint=vae_fp, augment=augment, latent_folders=latent_folders,
        previous=previous,
    )
    result = LatentStageResult(clips=list(done))
    counts: Counter = Counter(row["status"] for row in done)
    total = len(done) + sum(len(variants) for _, variants in to_encode)

    lock = threading.Lock()  # rows arrive from this thread and from the writer thread

    def report(rows: list[dict]) -> None:
        with lock:
            if result.startup_s is None and any(row["status"] == "encoded" for row in rows):
                result.startup_s = round(time.perf_counter() - started, 3)
            result.clips.extend(rows)
            counts.update(row["status"] for row in rows)
            if progress:
                progress(len(result.clips), total, counts)

    writer = _Writer(report)
    batch: list[tuple[LatentItem, list[str], np.ndarray, dict]] = []

    def flush() -> None:
        if batch:
            rows = _encode_batch(batch, encoder, frame_fp, vae_fp, config, writer, result)
            report(rows)
            batch.clear()

    def handle(item: LatentItem, variants: list[str], decoded: tuple) -> None:
        status, reason, frames, facts = decoded
        if status != OK:
            cause = facts.get("cause", "")
            report([_clip_row(item, v, "failed", variant_path(item.latent_path, v), f"{status}: {reason}", cause) for v in variants])
            return
        batch.append((item, variants, frames, facts))
        if len(batch) >= encoder.batch_size:
            flush()

    if to_encode:
        encoder.plan_batch(config.frames, config.height, config.width)
    try:
        if not to_encode:
            pass  # everything is current: no model, no GPU memory, no worker processes
        elif workers <= 0:
            encoder.load(compile_cache)
            for item, variants in to_encode:
                handle(item, variants, _decode_safely(item, config))
        else:
            with worker_pool(workers) as pool:
                pending: deque = deque()
                queue_iter = iter(to_encode)
                depth = max(prefetch, encoder.batch_size, 1)  # a whole batch decoded ahead keeps the GPU fed

                def refill() -> None:
                    while len(pending) < depth:
                        nxt = next(queue_iter, None)
                        if nxt is None:
                            return
                        pending.append((*nxt, pool.submit(_decode_for_latents, nxt[0].video_path, config,
                                                          nxt[0].window_start_s)))

                refill()
                # The first windows decode in the workers while the model loads (and compiles) here.
                encoder.load(compile_cache)
                while pending:
                    item, variants, future = pending.popleft()
                    refill()  # keep the workers busy while this clip is encoded
                    try:
                        decoded = future.result()
                    except Exception as exc:
                        # A worker the OS killed says nothing about the clip: the failure is the machine's.
                        decoded = ("failed", f"worker failed: {type(exc).__name__}: {exc}", None, {"cause": ENVIRONMENT})
                    handle(item, variants, decoded)
        flush()
    finally:
        writer.close()
    result.duration_s = round(time.perf_counter() - started, 3)
    result.encoder = encoder.run_facts()
    return result


def _decode_safely(item: LatentItem, config: FrameConfig) -> tuple:
    try:
        return _decode_for_latents(item.video_path, config, item.window_start_s)
    except Exception as exc:
        return ("failed", f"{type(exc).__name__}: {exc}", None, {})


def _encode_batch(batch, encoder, frame_fp: str, vae_fp: str, config: FrameConfig, writer, result: LatentStageResult) -> list[dict]:
    """Encode one batch (and its flipped copy where asked); hand sound results to the writer thread."""
    rows: list[dict] = []
    windows = np.stack([frames for _, _, frames, _ in batch])
    outputs: dict[str, dict[str, np.ndarray]] = {}
    needed = {v for _, variants, _, _ in batch for v in variants}
    try:
        began = time.perf_counter()
        if "none" in needed:
            outputs["none"] = encoder.encode(windows)
        if "hflip" in needed:
            outputs["hflip"] = encoder.encode(np.ascontiguousarray(windows[:, :, :, ::-1]))
        result.encode_seconds += time.perf_counter() - began
        result.encoded_clips += len(batch)
    except Exception as exc:  # e.g. out of memory: the batch fails with the reason, the run goes on
        for item, variants, _, _ in batch:
            rows += [_clip_row(item, v, "failed", variant_path(item.latent_path, v),
                               f"encode failed: {type(exc).__name__}: {exc}", ENVIRONMENT) for v in variants]
        return rows
    encoded_with = encoder.encoded_with()  # what each header records of the encoder: read once a batch
    for index, (item, variants, _, facts) in enumerate(batch):
        for variant in variants:
            arrays = {key: value[index] for key, value in outputs[variant].items()}
            target = variant_path(item.latent_path, variant)
            problem = latent_values_problem(arrays)
            if problem:  # never write all-zero or non-finite latents
                rows.append(_clip_row(item, variant, "failed", target, problem))
                continue
            header = LatentHeader.build(
                video_id=item.video_id, sample_id=item.name, augmentation=variant, source=item.source,
                frame_config=config, decoded=facts, window=item.window, encoded_with=encoded_with,
                frame_fingerprint=frame_fp, vae_fingerprint=vae_fp,
                config_fingerprint=item.config_fingerprint(frame_fp, vae_fp, variant))
            writer.put(item, variant, target, arrays, header)
    return rows


class _Writer:
    """Writes cache files on a thread so file I/O overlaps the encoder; a bounded queue bounds memory."""

    def __init__(self, report: Callable[[list[dict]], None]):
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._report = report
        self._thread = threading.Thread(target=self._run, name="latent-writer", daemon=True)
        self._thread.start()

    def put(self, item: LatentItem, variant: str, target: Path, arrays: dict, header: LatentHeader) -> None:
        self._queue.put((item, variant, target, arrays, header))

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            item, variant, target, arrays, header = job
            try:
                write_latent_file(target, arrays, header)
                row = _clip_row(item, variant, "encoded", target, facts=(_stat(target), header.derivation()))
            except OSError as exc:
                row = _clip_row(item, variant, "failed", target, f"write failed: {exc}", ENVIRONMENT)
            self._report([row])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def latent_items(samples: Iterable[Sample], layout: DataLayout) -> list[LatentItem]:
    """The samples of a frame stage, ready for the latent stage (fingerprints computed if absent). The cache path
    comes from the layout, not from the manifest (one trust rule for paths)."""
    items = []
    for sample in samples:
        try:
            # The clip on disk decides, not the frames manifest: a clip whose bytes changed since the frame stage
            # gets a new fingerprint, so its cache no longer matches and is encoded again.
            fingerprint = source_identity(sample.source.path, sample.source.recorded())["source_fingerprint"]
        except OSError:
            fingerprint = "unreadable"  # the decode reports the real problem as the clip's status
        items.append(LatentItem(sample.video_id, sample.source.path, layout.latent(sample.scenario, sample.sample_id),
                                fingerprint, sample.scenario, sample.sample_id, sample.window))
    return items


def write_latents_manifest(path: Path | str, result: LatentStageResult, partition: str, settings: dict) -> None:
    """The rows (Parquet, typed by LatentRow) and the JSON view of the shard's latent stage."""
    row_table.write_manifest(
        path,
        {
            "partition": partition,
            "package_version": __version__,
            "settings": settings,
            "counts": result.counts,
            "duration_s": result.duration_s,
            "encode_seconds": round(result.encode_seconds, 3),
            "startup_s": result.startup_s,
            "encoder": result.encoder,
            "orphaned": result.orphaned,
        },
        "clips", sorted(result.clips, key=lambda row: (sample_id_of(row), row["augmentation"])), LatentRow,
    )


def read_latents_manifest(path: Path | str) -> dict | None:
    """The manifest a latent stage wrote (its rows under "clips"), or None when it has not run (or stopped before
    it was whole)."""
    return row_table.read_manifest(path, "clips", LatentRow)


def cached_variants(latents_manifest: dict) -> dict[str, dict[str, str]]:
    """sample id -> {augmentation: latent file} for the samples whose cache is current after the stage ran."""
    cached: dict[str, dict[str, str]] = {}
    for row in latents_manifest["clips"]:
        if row["status"] in CACHED_STATUSES:
            cached.setdefault(sample_id_of(row), {})[row["augmentation"]] = row["latent_path"]
    return cached
