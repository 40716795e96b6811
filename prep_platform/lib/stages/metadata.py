"""Scenario metadata: label every probed clip, split train/validation per scenario, assign shards of work, write
the store (files.metadata_store) with a JSON view, or a JSON document `{"train": [...], "validation": [...]}`.

A report beside it (`<name>.report.json`) says how it was made (inputs' hashes, settings, versions, counts) and
lists the first clips kept out; every one, with its reason, is in `<name>.excluded.jsonl`.
"""

from __future__ import annotations

import heapq
import json
import math
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from prep_platform import __version__
from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import (
    atomic_path,
    folder_lock,
    read_json_if_present,
    write_json_atomic,
    write_text_atomic,
)
from prep_platform.lib.files.metadata_store import (
    SPLITS,
    VIEW_KIND,
    MetadataInputError,
    RecordSpill,
    is_store,
    read_document,
    record_columns,
    record_from_row,
    record_groups,
    scenario_shard_column,
    store_for_output,
    store_row,
    write_store,
)
from prep_platform.lib.frames.stage import read_frames_manifest
from prep_platform.lib.labelling.labellers import labeller_identity, make_labeller
from prep_platform.lib.layout import (
    DataLayout,
    PandaFolder,
    metadata_excluded_path,
    metadata_report_path,
    metadata_store_path,
    metadata_view_path,
)
from prep_platform.lib.msr_vtt_categories import CATEGORY_NAMES
from prep_platform.lib.progress import ProgressCallback
from prep_platform.lib.scenarios import normalize_prompt, prompt_problem
from prep_platform.lib.safe_paths import MAX_ID_LENGTH, UNSAFE_ID, unsafe_id_reason
from prep_platform.lib.scenarios import LabelResult, ScenarioConfig, load_scenarios, scenarios_path
from prep_platform.lib.shards import hash_order, scenario_shards
from prep_platform.lib.source_files import ManifestRow, content_fingerprint, file_fingerprint, read_manifest
from prep_platform.lib.sources.msr_vtt import captions_by_video, format_validation_error, load_annotation
from prep_platform.lib.sources.panda70m import ingested_shard_names, ingested_shards
from prep_platform.lib.stages.latents import CACHED_STATUSES, read_latents_manifest
from prep_platform.lib.statuses import OK

DEFAULT_SHARD_SIZE = 500  # clips: ~6-9 minutes of the VAE on one H200 (0.9-1.5 clips/s, reference/performance.md)
EMPTY_CAPTION = "empty_caption"  # every caption of the clip is empty or whitespace only: no prompt to train on


class SourceInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    dataset: str
    fps: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    duration_s: float = Field(gt=0)
    frame_count: int = Field(gt=0)


class MetadataRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    video_id: str = Field(min_length=1)
    split: str
    scenario: str = Field(min_length=1)
    shard: int = Field(0, ge=0, description="the clip's shard of work: partition scenario.nnnn, e.g. urban.0003")
    video_path: str = Field(min_length=1)
    # No image or latent path: they depend on the frame configuration of the run that makes them (lib.layout
    # places them; a path written here would point into another configuration's folder).
    caption: str = Field(min_length=1)
    original_caption: str | None = None  # the dataset's caption when normalising changed it
    prompt_variants: list[str] = Field(min_length=1)
    source: SourceInfo = Field(description="dataset, fps, width, height, duration_s, frame_count")
    label: dict = Field(description="labeller, votes per scenario, margin, confidence, deciding captions")


_RECORD_ADAPTER = TypeAdapter(MetadataRecord)


def validation_count(n_clips: int, ratio: float) -> int:
    """Validation clips for a scenario of `n_clips`: the ratio rounded half up, so it is within one clip of it."""
    return math.floor(n_clips * ratio + 0.5)


CHUNK_CLIPS = 5000  # MSR-VTT clips labelled at once; a Panda-70M download shard is one chunk
EXCLUDED_IN_REPORT = 1000  # kept-out clips listed in the report itself; every one is in the excluded list beside it


class ScenarioMetadataResult:
    """A finished build: its report, and its records in a spill (files.metadata_store, its spill) until they are written and
    the result released. `document` gathers every record in memory: for small sets and tests."""

    def __init__(self, report: dict, spill: RecordSpill, excluded: ExcludedClips):
        self.report = report
        self.spill = spill
        self.excluded = excluded

    @property
    def counts(self) -> dict:
        return self.report["counts"]

    @property
    def scenarios(self) -> list[str]:
        return self.report["settings"]["scenarios"]

    def shard_tables(self) -> Iterator[pa.Table]:
        """Every record as store rows, one table per shard, in store order."""
        return self.spill.shard_tables(self.scenarios)

    @property
    def document(self) -> dict:
        document: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for table in self.shard_tables():
            for row in table.to_pylist():
                record = record_from_row(row)
                document[record["split"]].append(record)
        return document

    def release(self) -> None:
        """Remove the spill (the records are in the written store)."""
        self.spill.release()
        self.excluded.release()


class ExcludedClips:
    """Every clip kept out, with the reason: written line by line to a JSON-lines file in the spill (copied beside
    the report when the metadata is written); the first EXCLUDED_IN_REPORT are kept for the report itself."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("w", encoding="utf-8")
        self.first: list[dict] = []
        self.reasons: Counter = Counter()

    def add(self, video_id: str, reason: str, detail: str) -> None:
        item = {"video_id": video_id, "reason": reason, "detail": detail}
        self._file.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.reasons[reason] += 1
        if len(self.first) < EXCLUDED_IN_REPORT:
            self.first.append(item)

    @property
    def count(self) -> int:
        return sum(self.reasons.values())

    def finish(self) -> None:
        self._file.close()

    def release(self) -> None:
        self.finish()
        self.path.unlink(missing_ok=True)


class LabelTally:
    """The labelling summary gathered clip by clip: label counts, a confidence histogram, the low-confidence share
    and the least confident clips (memory: a few counters and ten clips, whatever the dataset)."""

    LEAST = 10

    def __init__(self, low_confidence: float):
        self.low_confidence = low_confidence
        self.labels: Counter = Counter()
        self.histogram: Counter = Counter()
        self.low = 0
        self._least: list[tuple[float, str, str, object]] = []

    def add(self, video_id: str, scenario: str, evidence: dict) -> None:
        confidence = float(evidence.get("confidence", 1.0))
        self.labels[scenario] += 1
        upper = next(b for b in CONFIDENCE_BINS[1:] if confidence <= b or b == 1.0)
        self.histogram[f"<={upper:.1f}"] += 1
        self.low += confidence < self.low_confidence
        self._least.append((confidence, video_id, scenario, evidence.get("votes")))
        if len(self._least) > 50 * self.LEAST:
            self._least = heapq.nsmallest(self.LEAST, self._least, key=lambda r: (r[0], r[1]))

    def summary(self, labeller) -> dict:
        labelled = sum(self.labels.values())
        least = heapq.nsmallest(self.LEAST, self._least, key=lambda r: (r[0], r[1]))
        return {
            **labeller_identity(labeller),
            "labels": dict(self.labels),
            "confidence_histogram": {k: self.histogram[k] for k in sorted(self.histogram)},
            "low_confidence": self.low_confidence,
            "low_confidence_share": round(self.low / labelled, 4) if labelled else 0.0,
            "least_confident": [{"video_id": v, "scenario": s, "confidence": c, "votes": votes} for c, v, s, votes in least],
            "embeddings_computed": getattr(labeller, "computed", None),
        }


# progress_for(what, unit) -> a progress callback for that part of the work (or None): the command-line tools give
# a bar per part (data_prep._cli.ProgressBars), the asset a log line every ~10% (defs.progress).
ProgressFor = Callable[[str, str], ProgressCallback | None]


@dataclass
class ClipChunk:
    """Clips of one dataset labelled together: probed manifest rows and their captions."""

    dataset: str
    rows: list[ManifestRow]
    captions: Mapping[str, list[str]]
    name: str = ""  # a Panda-70M download shard's name: progress lines say which shard

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.name}".strip()


def msr_vtt_chunks(manifest: list[ManifestRow], captions: Mapping[str, list[str]]) -> Iterator[ClipChunk]:
    for start in range(0, len(manifest), CHUNK_CLIPS):
        yield ClipChunk("msr-vtt", manifest[start:start + CHUNK_CLIPS], captions)


def panda_chunks(panda: PandaFolder, names: list[str]) -> Iterator[ClipChunk]:
    """The ingested Panda-70M download shards `names` (sources.panda70m.ingest_panda_shards), one at a time."""
    for name, shard in zip(names, ingested_shards(panda, names)):
        yield ClipChunk("panda-70m", shard.rows, shard.captions, name)


def build_scenario_metadata(
    layout: DataLayout,
    *,
    scenarios: ScenarioConfig | Path | str | None = None,
    limit: int | None = 1500,
    validation_ratio: float = 0.1,
    seed: int = 0,
    labeller_kind: str | None = None,
    encoder=None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    previous: Path | str | None = None,
    progress_for: ProgressFor | None = None,
) -> ScenarioMetadataResult:
    """Label the ok clips of the layout's MSR-VTT raw folder (annotation + manifest), plus its ingested Panda-70M
    shards when there are any, and split them per scenario. `limit` applies to the MSR-VTT clips. A record holds
    no image or latent path: those depend on the frame configuration of the stage that writes them (lib.layout).
    Each clip gets its shard of work (lib.shards): the one it had in the `previous` metadata file while its scenario
    is the same.

    Memory follows a chunk of clips, not the dataset: labelled records go to a spill on disk as each chunk is done
    (files.metadata_store, its spill); only each clip's split and shard are kept per clip. Write the result with
    write_scenario_metadata, then release it. `progress_for`: progress of each chunk's caption embedding and
    labelling (the first embedding loads the label model: ~20 s on a fresh machine, told from its start)."""
    started = time.perf_counter()
    if not 0.0 <= validation_ratio < 1.0:
        raise ValueError(f"validation ratio must be in [0, 1), got {validation_ratio}")
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    scenarios_source = None
    if not isinstance(scenarios, ScenarioConfig):
        scenarios_source = scenarios_path(scenarios)  # the report names the file read
        scenarios = load_scenarios(scenarios_source)
    labeller = make_labeller(scenarios, cache_root=layout.cache_root, labeller=labeller_kind, encoder=encoder)

    annotation_path = layout.msr_vtt.annotation
    manifest_path = layout.msr_vtt.manifest
    annotation = load_annotation(annotation_path)
    manifest = read_manifest(manifest_path)
    if limit is not None:
        manifest = manifest[:limit]
    msr_vtt_captions = captions_by_video(annotation)
    del annotation
    panda_shards = ingested_shard_names(layout.panda)  # listed once: the report's inputs are the shards labelled
    panda_manifests = [layout.panda.ingested_manifest(name) for name in panda_shards]

    spill = RecordSpill(layout.metadata_spill_root)
    excluded = ExcludedClips(spill.paths.excluded)
    try:
        tally = LabelTally(scenarios.labelling.low_confidence)
        per_dataset: Counter = Counter()
        chunks = chain(msr_vtt_chunks(manifest, msr_vtt_captions), panda_chunks(layout.panda, panda_shards))
        for chunk in chunks:
            per_dataset[chunk.dataset] += len(chunk.rows)
            _label_chunk(chunk, labeller, layout, spill, excluded, tally, progress_for)
        spill.finish()
        excluded.finish()
        considered = sum(per_dataset.values())
        if considered and not spill.rows:
            raise ValueError(
                f"{manifest_path}: none of the {considered} clips could be labelled with a scenario "
                f"{dict(excluded.reasons)}; nothing was written"
            )
        per_scenario, shards_per_scenario = {}, {}
        for scenario in labeller.names:
            counts = _split_and_shard(spill, scenario, seed=seed, validation_ratio=validation_ratio,
                                      previous=previous, shard_size=shard_size)
            per_scenario[scenario] = {"train": counts[0], "validation": counts[1]}
            shards_per_scenario[scenario] = counts[2]
    except BaseException:
        spill.release()
        excluded.release()
        raise

    report = {
        "tool": "prep_platform.data_prep.build_scenario_metadata",
        "package_version": __version__,
        "inputs": {
            "annotation": str(annotation_path),
            "annotation_sha256": file_fingerprint(annotation_path),
            "manifest": str(manifest_path),
            "manifest_sha256": file_fingerprint(manifest_path),
            "scenarios": str(scenarios_source) if scenarios_source else "<in-memory>",
            "scenarios_fingerprint": scenarios.fingerprint(),
            **({"panda_manifests": [str(m) for m in panda_manifests],
                "panda_manifest_sha256": content_fingerprint(*panda_manifests)} if panda_manifests else {}),
        },
        "settings": {
            "limit": limit,
            "validation_ratio": validation_ratio,
            "seed": seed,
            "images_root": layout.images_root.as_posix(),
            "latents_root": layout.latents_root.as_posix(),
            "frame_tag": layout.frame_config.tag,
            "scenarios": labeller.names,
            "shard_size": shard_size,
        },
        "counts": {
            "clips_considered": sum(per_dataset.values()),
            "per_dataset": {name: n for name, n in per_dataset.items() if n},
            "labelled": sum(spill.rows.values()),
            "train": sum(n["train"] for n in per_scenario.values()),
            "validation": sum(n["validation"] for n in per_scenario.values()),
            "excluded": excluded.count,
            "excluded_by_reason": dict(sorted(excluded.reasons.items())),
            "per_scenario": per_scenario,
            "shards_per_scenario": shards_per_scenario,
        },
        "labelling": tally.summary(labeller),
        "excluded": excluded.first,
        "duration_s": round(time.perf_counter() - started, 3),
    }
    return ScenarioMetadataResult(report, spill, excluded)


def _label_chunk(chunk: ClipChunk, labeller, layout: DataLayout, spill: RecordSpill, excluded: ExcludedClips,
                 tally: LabelTally, progress_for: ProgressFor | None = None) -> None:
    """Label one chunk's clips and spill its records by scenario; record every clip kept out."""
    usable = [row for row in chunk.rows if row.status == "ok" and not unsafe_id_reason(row.video_id)]
    clip_labels = dict(zip((row.video_id for row in usable), label_clips(
        labeller, [(row.video_id, chunk.captions.get(row.video_id, []), row.category) for row in usable],
        progress_for=progress_for, what=chunk.label)))
    by_scenario: dict[str, list[dict]] = defaultdict(list)
    for row in chunk.rows:
        if row.status != "ok":
            excluded.add(row.video_id, f"clip_{row.status}", row.error)
            continue
        unsafe = unsafe_id_reason(row.video_id)
        if unsafe:  # a manifest edited by hand: its id never becomes a path
            excluded.add(row.video_id[:MAX_ID_LENGTH], UNSAFE_ID, unsafe)
            continue
        clip = clip_labels[row.video_id]
        if clip.result is None or clip.result.scenario is None:
            excluded.add(row.video_id, clip.reason, clip.detail)
            continue
        scenario, result = clip.result.scenario, clip.result
        tally.add(row.video_id, scenario, result.evidence)
        # The first caption that names the scenario is the clip's caption; the others become variants.
        supporting = [clip.captions[i] for i in result.supporting]
        caption = supporting[0]
        original = clip.originals[result.supporting[0]]
        by_scenario[scenario].append(store_row({
            "video_id": row.video_id,
            "split": None,  # both known once every clip of the scenario is labelled (_split_and_shard)
            "shard": 0,
            "scenario": scenario,
            "video_path": row.path,
            "caption": caption,
            **({"original_caption": original} if original != caption else {}),
            "prompt_variants": labeller.prompt_variants(scenario, caption, supporting[1:]),
            "source": {
                "dataset": chunk.dataset,
                **(
                    {"msr_vtt_split": row.source_split, "category": CATEGORY_NAMES.get(row.category)}
                    if chunk.dataset == "msr-vtt"
                    else {}
                ),
                "fps": row.fps,
                "width": row.width,
                "height": row.height,
                "duration_s": row.duration_s,
                "frame_count": row.frame_count,
                "bytes": row.bytes,
            },
            "label": result.evidence,
        }))
    for scenario, rows in by_scenario.items():
        spill.add(scenario, rows)


def _split_and_shard(spill: RecordSpill, scenario: str, *, seed: int, validation_ratio: float,
                     previous: Path | str | None, shard_size: int) -> tuple[int, int, int]:
    """Each spilled clip's split (the first `validation_count` in the order of a hash of seed and id: not the clip
    order, consecutive MSR-VTT ids come from the same source videos) and shard of work. Returns (train,
    validation, shards)."""
    ids = spill.video_ids(scenario)
    if not len(ids):
        return 0, 0, 0
    n_validation = validation_count(len(ids), validation_ratio)
    validation = np.zeros(len(ids), dtype=bool)
    validation[hash_order(_each(ids), salt=f"{seed}:")[:n_validation]] = True
    shards = scenario_shards(hash_order(_each(ids)), _kept_shards(previous, scenario, ids), shard_size)
    spill.assign(scenario, shards, validation)
    return len(ids) - n_validation, n_validation, len(np.unique(shards))


def _each(ids: pa.ChunkedArray) -> Iterator[str]:
    for chunk in ids.chunks:  # a chunk's strings at a time, not the scenario's
        yield from chunk.to_pylist()


def _kept_shards(previous: Path | str | None, scenario: str, ids: pa.ChunkedArray) -> np.ndarray:
    """Each clip's shard in the previous metadata file when it was in this scenario there, else -1."""
    kept = np.full(len(ids), -1, dtype=np.int64)
    if previous is None or not Path(previous).exists():
        return kept
    try:  # two columns of the scenario's row groups, whatever the size of the rest
        earlier = scenario_shard_column(previous, scenario)
    except (ValueError, KeyError, TypeError, OSError, pa.ArrowException):
        return kept  # an unreadable earlier file: shards are assigned afresh (nothing is lost but the grouping)
    if not earlier.num_rows:
        return kept
    where = pc.index_in(ids, value_set=earlier.column("video_id").combine_chunks())
    found = where.is_valid().to_numpy(zero_copy_only=False)
    positions = where.fill_null(0).to_numpy(zero_copy_only=False)
    earlier_shards = earlier.column("shard").to_numpy()
    kept[found] = earlier_shards[positions[found]]
    return kept


@dataclass
class ClipLabel:
    result: LabelResult | None  # None: no caption to label
    captions: list[str]  # the captions as prompts (normalised, blank ones dropped)
    originals: list[str]  # the same captions as the dataset wrote them
    reason: str  # "" when labelled
    detail: str


def caption_prompts(raw_captions: list) -> tuple[list[str], list[str]]:
    """(a clip's captions as prompts, the same captions as written): prompts are single lines (prompt_text:
    separators and control characters become spaces) and an empty caption is never one."""
    normalized = [normalize_prompt(c) if isinstance(c, str) else "" for c in raw_captions]
    return [c for c in normalized if c], [raw for raw, clean in zip(raw_captions, normalized) if clean]


def label_clips(labeller, clips: list[tuple[str, list, int | None]], *, progress_for: ProgressFor | None = None,
                what: str = "") -> list[ClipLabel]:
    """Each clip's label from all of its captions, as every tool labels (the metadata stage, label_captions): the
    captions normalised once, embedded in one batch (from the cache where they are), then labelled; a clip whose
    captions are all blank is `empty_caption`. `clips`: (video id, raw captions, category or -1/None). `what` names
    the clips in progress lines (`msr-vtt: labelling clips`)."""
    def progress(part: str, unit: str) -> ProgressCallback | None:
        return progress_for(f"{what}: {part}" if what else part, unit) if progress_for else None

    prompts = [caption_prompts(raw) for _, raw, _ in clips]
    labeller.prepare([caption for kept, _ in prompts for caption in kept], progress=progress("embedding captions", "caption"))
    labelling, counts = progress("labelling clips", "clip"), Counter()
    labels = []
    for done, ((video_id, raw, category), (kept, originals)) in enumerate(zip(clips, prompts), start=1):
        if raw and not kept:
            labels.append(ClipLabel(None, [], [], EMPTY_CAPTION,
                                    f"clip {video_id}: all {len(raw)} caption(s) are empty or whitespace only"))
        else:
            result = labeller.label(kept, category if category is not None and category >= 0 else None)
            labels.append(ClipLabel(result, kept, originals, result.reason, result.detail))
        counts[labels[-1].reason.partition(":")[0] or "ok"] += 1  # "other_content: cooking" counts as other_content
        if labelling:
            labelling(done, len(clips), counts)
    labeller.close()
    return labels


def label_annotation(annotation_path: Path | str, scenarios: ScenarioConfig, *, cache_root: Path | None,
                     labeller_kind: str | None = None, limit: int | None = None, encoder=None,
                     progress_for: ProgressFor | None = None) -> tuple[list[dict], dict]:
    """Labels from an MSR-VTT annotation's captions and categories alone (no videos), with exactly the labeller and
    rules the metadata stage uses: one row per video (`video_id`, `scenario` or None, `reason`, `confidence`), and
    how they were made. A `.gz` annotation is read as it is. `progress_for`: as build_scenario_metadata's."""
    annotation = load_annotation(annotation_path)
    captions = captions_by_video(annotation)
    videos = annotation["videos"][:limit] if limit else annotation["videos"]
    labeller = make_labeller(scenarios, cache_root=cache_root, labeller=labeller_kind, encoder=encoder)
    started = time.perf_counter()
    clips = label_clips(labeller, [(v["video_id"], captions.get(v["video_id"], []), v.get("category")) for v in videos],
                        progress_for=progress_for)
    rows = [{"video_id": video["video_id"], "scenario": clip.result.scenario if clip.result else None,
             "reason": clip.reason, "confidence": (clip.result.evidence if clip.result else {}).get("confidence")}
            for video, clip in zip(videos, clips)]
    facts = {**labeller_identity(labeller), "scenarios_fingerprint": scenarios.fingerprint(),
             "clips": len(rows), "labelled": dict(Counter(r["scenario"] for r in rows if r["scenario"])),
             "kept_out": dict(Counter(r["reason"] for r in rows if not r["scenario"])),
             "embeddings_computed": getattr(labeller, "computed", None),
             "embeddings_from_cache": getattr(getattr(labeller, "cache", None), "loaded_from_disk", None),
             "duration_s": round(time.perf_counter() - started, 3)}
    return rows, facts


CONFIDENCE_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def write_scenario_metadata(result: ScenarioMetadataResult, output: Path | str, layout: DataLayout | None = None) -> Path:
    """Write the store (a `.parquet` output, or the store beside a `.json` one: files.metadata_store.
    store_for_output), the list of clips kept out, the report, each atomically (the report last: it describes
    finished files), then the JSON view (stages.metadata, its view) with the paths `layout` plans for each clip's image
    and latent (default: the standard layout of the data root holding `<root>/metadata/`). Returns the store."""
    store = store_for_output(output)
    layout = (layout or DataLayout.around_metadata_file(store)).relocated(metadata_file=store)
    refuse_foreign_view(metadata_view_path(store))
    write_store(store, result.shard_tables())
    excluded_list = metadata_excluded_path(store)
    with atomic_path(excluded_list) as tmp:
        shutil.copyfile(result.excluded.path, tmp)
    write_json_atomic(metadata_report_path(store), {**result.report, "output": str(store),
                                                    "view": str(metadata_view_path(store)),
                                                    "excluded_list": str(excluded_list)})
    write_metadata_view(layout, checked=True)  # refuse_foreign_view said the name is ours, before the report changed
    return store


# --- validation, shared by the checks and the tests -------------------------------------------------------


def load_metadata_document(path: Path | str) -> dict:
    """Every record as {"train": [...], "validation": [...]}: from the store or a JSON document."""
    return read_document(path)


def metadata_schema_problems(document: object) -> list[str]:
    """Every problem of a `{"train": [...], "validation": [...]}` document, each naming its record (`train[3]`)."""
    if not isinstance(document, dict):
        return ["<root>: not a {train, validation} document"]
    problems = [f"{key}: not a split (the splits are {', '.join(SPLITS)})" for key in document if key not in SPLITS]
    for split in SPLITS:
        split_records = document.get(split)
        if not isinstance(split_records, list):
            problems.append(f"{split}: {'missing' if split not in document else 'not a list of records'}")
            continue
        for i, record in enumerate(split_records):
            problems += record_problems(f"{split}[{i}]", split, record)
    return problems


def store_schema_problems(path: Path | str, *, limit: int = 1000) -> tuple[list[str], int]:
    """The problems of every record of a metadata store (or JSON document), walked a shard at a time: (the first
    `limit` problems, how many there are). Records are named as in the document (`validation[12]`)."""
    seen: Counter = Counter()
    problems, total = [], 0
    for group in record_groups(path):
        for record in group:
            split = record.get("split")
            where = f"{split}[{seen[split]}]" if split in SPLITS else f"record {record.get('video_id')!r}"
            seen[split] += 1
            found = record_problems(where, split if split in SPLITS else "", record)
            total += len(found)
            problems += found[:max(0, limit - len(problems))]
    return problems, total


def record_problems(where: str, split: str, record: object) -> list[str]:
    """The problems of one record (`where` names it in each line): its fields against MetadataRecord, then the
    rules a trainer relies on (the caption is the first prompt, prompts are single lines, the latent path's tail)."""
    try:
        _RECORD_ADAPTER.validate_python(record)
    except ValidationError as exc:
        return [f"{where}{'' if line.startswith(('[', '<root>')) else '.'}{line.replace('<root>', '')}"
                if not line.startswith("...") else line for line in format_validation_error(exc)]
    problems = []
    if split and record["split"] != split:
        problems.append(f"{where}.split: record says {record['split']!r}")
    elif not split:
        problems.append(f"{where}.split: {record['split']!r} is not a split (the splits are {', '.join(SPLITS)})")
    if record["prompt_variants"][0] != record["caption"]:
        problems.append(f"{where}.prompt_variants: the first variant is not the caption")
    for k, prompt in enumerate(record["prompt_variants"]):
        problem = prompt_problem(prompt)
        if problem:  # a blank or multi-line prompt would shift every later line of a trainer's prompts.txt
            problems.append(f"{where}.prompt_variants[{k}] ({record['video_id']}): {problem}")
    return problems


def _columns(source: dict | pa.Table, names: list[str]) -> pa.Table:
    """A document's (or a store's record_columns) columns as one Arrow table: the whole-dataset checks count with
    Arrow's group-by, a few bytes a record, instead of Python sets of every id."""
    if isinstance(source, pa.Table):
        return source
    return pa.table({name: pa.array([r.get(name) for r in records(source)], pa.string()) for name in names})


def _count(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.group_by(keys, use_threads=False).aggregate([([], "count_all")])


def clips_in_both_splits(source: dict | pa.Table) -> list[str]:
    """Clips in both train and validation, then clips twice in one split."""
    table = _columns(source, ["video_id", "split"]).select(["video_id", "split"])
    table = table.filter(pc.is_in(table.column("split"), pa.array(SPLITS)))
    per_split = _count(table, ["video_id", "split"])
    twice = per_split.filter(pc.greater(per_split.column("count_all"), 1)).column("video_id").to_pylist()
    splits = _count(per_split.select(["video_id"]), ["video_id"])
    both = splits.filter(pc.greater(splits.column("count_all"), 1)).column("video_id").to_pylist()
    return sorted(both) + sorted(set(twice))


def validation_share_problems(source: dict | pa.Table, ratio: float) -> tuple[list[str], dict[str, dict]]:
    """Per scenario: the validation count must be within one clip of ratio x clips."""
    per_scenario: dict[str, Counter] = defaultdict(Counter)
    counted = _count(_columns(source, ["scenario", "split"]).select(["scenario", "split"]), ["scenario", "split"])
    for row in counted.to_pylist():
        per_scenario[row["scenario"]][row["split"]] += row["count_all"]
    problems, table = [], {}
    for scenario, counts in sorted(per_scenario.items(), key=lambda item: str(item[0])):
        total = counts["train"] + counts["validation"]
        expected = total * ratio
        table[scenario] = {"train": counts["train"], "validation": counts["validation"], "expected_validation": round(expected, 2)}
        if abs(counts["validation"] - expected) > 1.0:
            problems.append(
                f"{scenario}: {counts['validation']} of {total} clips in validation, expected {expected:.1f} (ratio {ratio})"
            )
    return problems, table


def scenario_clip_counts(source: dict | pa.Table) -> dict[str, int]:
    counted = _count(_columns(source, ["scenario"]).select(["scenario"]), ["scenario"])
    return dict(sorted(zip(counted.column("scenario").to_pylist(), counted.column("count_all").to_pylist()),
                       key=lambda item: str(item[0])))


def records(document: dict) -> Iterable[dict]:
    for split in SPLITS:
        yield from document[split]


# --- metadata_view -------------------------------------------------------------------------------------------------
# The metadata's JSON view (`scenario_metadata.json` beside the store): the records in the seed's schema, each with
# where its clip's conditioning image and latent cache are, as the stages that write them last left them.
#
# Why a view and not the store: the store has no frame-dependent path (a record stays true whatever size frames are
# made at), but a person, and the seed's `jq '.train[0]' data/metadata/scenario_metadata.json`, wants to see a
# clip's `image_path` and `latent_path`. So every step that changes what those are (the metadata build, the frame
# stage, the latent stage) writes the view again from the store and the shards' manifests: a path is the file of
# the clip's primary window for the frame configuration last prepared for its shard (`built: true`), or, before
# that, the path the layout plans for it (`built: false`). Given as `--metadata`, the view stands for its store
# (files.metadata_store.resolve_metadata_input).

# Records shown in the view, in store order. Every record up to here (MSR-VTT has 10,000 clips); past it the view
# would cost more to rewrite after each shard than the shard's own manifest, and the store holds them all anyway.
VIEW_RECORD_LIMIT = 20_000
# The seed's record schema, first in every record so `jq '.train[0]'` shows it on top.
SEED_FIELDS = ("video_path", "image_path", "caption", "prompt_variants", "scenario", "latent_path")


def write_metadata_view(layout: DataLayout, *, checked: bool = False) -> Path | None:
    """The view of `layout`'s store, written atomically under the metadata folder's lock (shards prepared at once
    each write it whole from what is on disk, so the last writer's view has every shard's latest paths). None when
    the metadata is a JSON document of its own, or a file that is no view of ours stands at the view's name (a
    user's file is never rewritten; `checked`: the caller made sure before writing anything), or there is no store
    yet."""
    store = layout.metadata_file
    if not is_store(store) or not store.is_file():
        return None
    view = metadata_view_path(store)
    with folder_lock([store.parent]):
        if not checked and view.exists() and not is_our_view(view):
            return None  # a file of the user's that happens to bear the view's name: never replaced
        write_text_atomic(view, view_json(metadata_view(layout)))
    return view


def refuse_foreign_view(view: Path) -> None:
    """MetadataInputError (one line, exit 2) when a file that is no view of ours stands where a metadata build would
    write its view: called before the build writes anything (and, by the pipeline, before it labels)."""
    if view.exists() and not is_our_view(view):
        raise MetadataInputError(f"{view}: exists and is not a metadata view this tool wrote (the view goes beside the "
                                 f"store {metadata_store_path(view).name}); move it, or give another --output")


def is_our_view(path: Path) -> bool:
    """Whether `path` is a view this module wrote (its `kind` comes first: the head of the file tells, however large
    the file is), or a file an earlier version's metadata build wrote there (its view without `kind`, or the whole
    JSON document it wrote for a .json output): the report beside it names that build's output."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return False
    if f'"kind": "{VIEW_KIND}"'.encode() in head:
        return True
    # An earlier version's files have the shapes its writers gave them, and its report beside them names them.
    earlier_view = head.startswith(b'{\n "store": ') and b'"about": "a view of the scenario metadata' in head
    earlier_document = head.startswith(b'{"train": [') or head.startswith(b'{"train": []')
    if not (earlier_view or earlier_document):
        return False
    try:
        report = read_json_if_present(metadata_report_path(path))
    except (OSError, ValueError):
        return False
    output = report.get("output") if isinstance(report, dict) else None
    return isinstance(output, str) and Path(output).name == (metadata_store_path(path).name if earlier_view else path.name)


def view_json(document: dict) -> str:
    """The header indented, then one record per line: readable, diffable, and fast (json's C encoder runs only
    without `indent`: 20,000 records take a fifth of the time)."""
    head = {k: v for k, v in document.items() if k not in SPLITS}
    parts = [json.dumps(head, indent=1, ensure_ascii=False)[:-1].rstrip()]  # without its closing brace
    for split in SPLITS:
        body = ",\n".join(f"  {json.dumps(record, ensure_ascii=False)}" for record in document.get(split, []))
        parts.append(f' "{split}": [\n{body}\n ]' if body else f' "{split}": []')
    return ",\n".join(parts) + "\n}\n"


def metadata_view(layout: DataLayout) -> dict:
    store = layout.metadata_file
    table = record_columns(store, ["scenario", "shard", "split"])
    per_shard: dict[str, dict[str, dict[str, int]]] = {}
    for (scenario, shard, split), n in Counter(zip(*(table.column(c).to_pylist() for c in ("scenario", "shard", "split")))).items():
        per_shard.setdefault(scenario, {}).setdefault(str(shard), {})[split] = n
    report = read_json_if_present(metadata_report_path(store)) or {}
    records: dict[str, list[dict]] = {split: [] for split in SPLITS}
    shown = 0
    for group in record_groups(store):
        room = VIEW_RECORD_LIMIT - shown
        if room <= 0:
            break
        group = group[:room]
        paths = ShardPaths(layout, group[0]["scenario"], int(group[0].get("shard", 0)))
        for record in group:
            records.setdefault(record["split"], []).append(seed_record(record, paths))
        shown += len(group)
    return {
        "kind": VIEW_KIND,
        "store": store.name,
        "about": "a view of the scenario metadata store beside it (Parquet, one row group per shard of work; "
                 "pandas.read_parquet reads it): every tool given this file reads the store. Each record's image_path "
                 "and latent_path are its primary window's files for the frame configuration last prepared "
                 "(built: true), or the paths the layout plans for them (built: false)",
        "counts": report.get("counts") or {"train": len(records["train"]), "validation": len(records["validation"])},
        "records_per_shard": per_shard,
        "records_in_view": {"shown": shown, "total": table.num_rows,
                            **({"note": f"the first {VIEW_RECORD_LIMIT:,} records; the store holds every one"}
                               if shown < table.num_rows else {})},
        **records,
    }


class ShardPaths:
    """Where one shard's clips' primary-window image and latent are: from the shard's frames and latents manifests
    when they were made (the latents only while they were made from the frames manifest there now), else planned."""

    def __init__(self, layout: DataLayout, scenario: str, shard: int):
        self.layout = layout
        frames = read_frames_manifest(layout.frames_manifest(scenario, shard)) or {}
        self.frames = {row["video_id"]: row for row in frames.get("clips", []) if (row.get("window_index") or 0) == 0}
        latents = read_latents_manifest(layout.latents_manifest(scenario, shard)) or {}
        made_from = (latents.get("settings") or {}).get("frame_config_fingerprint")
        # lib.currency's rule over the one input the view knows of (a manifest that does not say is trusted, as before)
        current = made_from is None or is_current(Derivation({"frames": made_from}),
                                                  Derivation({"frames": (frames.get("frame_config") or {}).get("fingerprint")}))
        self.latents = {row["sample_id"]: row for row in latents.get("clips", []) if current
                        and row.get("augmentation") == "none" and row["status"] in CACHED_STATUSES}

    def of(self, record: dict) -> tuple[dict, dict]:
        """(the seed's paths, which of them are built), with why not where a stage failed the clip."""
        video_id, scenario = record["video_id"], record["scenario"]
        frame = self.frames.get(video_id)
        image_built = bool(frame and frame["status"] == OK and Path(frame["image_path"]).is_file())
        image = frame["image_path"] if image_built else str(self.layout.image(scenario, video_id))
        latent_row = self.latents.get(video_id) if image_built else None
        latent_built = bool(latent_row and Path(latent_row["latent_path"]).is_file())
        latent = latent_row["latent_path"] if latent_built else str(self.layout.latent(scenario, video_id))
        built = {"image_path": image_built, "latent_path": latent_built}
        if frame and frame["status"] != OK:
            built["why_not"] = f"{frame['status']}: {frame.get('reason') or ''}".strip().rstrip(":")
        return {"image_path": image, "latent_path": latent}, built


def seed_record(record: dict, paths: ShardPaths) -> dict:
    """The record in the seed's schema first (video_path, image_path, caption, prompt_variants, scenario,
    latent_path), then whether those files are built, then the rest of the store's fields."""
    files, built = paths.of(record)
    full = {**record, **files}
    seed = {name: full.get(name) for name in SEED_FIELDS}
    return {**seed, "built": built, **{k: v for k, v in record.items() if k not in seed}}
