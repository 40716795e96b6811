"""Scenario metadata: label every probed clip, split train/validation per scenario, write the trainer's JSON.

The output is `{"train": [...], "validation": [...]}`; a report beside it (`<name>.report.json`) says how it was
made (inputs' hashes, settings, versions) and lists every clip kept out, with the reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from prep_platform import __version__
from prep_platform.lib.files.atomic import write_json_atomic, write_text_atomic
from prep_platform.lib.files.metadata_store import SPLITS, is_store, natural_key, read_document, shard_column, write_records
from prep_platform.lib.layout import DataLayout, PandaFolder, metadata_report_path
from prep_platform.lib.safe_paths import MAX_ID_LENGTH, UNSAFE_ID, unsafe_id_reason
from prep_platform.lib.files.fingerprints import content_fingerprint, file_fingerprint
from prep_platform.lib.sources.panda70m import ingested_clips
from prep_platform.lib.prompt_text import normalize_prompt, prompt_problem
from prep_platform.lib.files.clip_manifest import ManifestRow, read_manifest
from prep_platform.lib.sources.msr_vtt_annotation import CATEGORY_NAMES, captions_by_video, format_validation_error, load_annotation
from prep_platform.lib.labelling.labellers import labeller_identity, make_labeller
from prep_platform.lib.scenarios import LabelResult, ScenarioConfig, load_scenarios, packaged_scenarios_path
from prep_platform.lib.shards import assign_shards

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
    image_path: str = Field(min_length=1)
    latent_path: str = Field(min_length=1)
    caption: str = Field(min_length=1)
    original_caption: str | None = None  # the dataset's caption when normalising changed it
    prompt_variants: list[str] = Field(min_length=1)
    source: SourceInfo = Field(description="dataset, fps, width, height, duration_s, frame_count")
    label: dict = Field(description="labeller, votes per scenario, margin, confidence, deciding captions")


class MetadataDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: list[MetadataRecord]
    validation: list[MetadataRecord]


_DOCUMENT_ADAPTER = TypeAdapter(MetadataDocument)


def validation_count(n_clips: int, ratio: float) -> int:
    """Validation clips for a scenario of `n_clips`: the ratio rounded half up, so it is within one clip of it."""
    return math.floor(n_clips * ratio + 0.5)


def _split_order_key(seed: int, video_id: str) -> str:
    # A hash, not the clip order: consecutive MSR-VTT ids come from the same source videos.
    return hashlib.sha256(f"{seed}:{video_id}".encode()).hexdigest()


@dataclass
class ScenarioMetadataResult:
    document: dict
    report: dict

    @property
    def counts(self) -> dict:
        return self.report["counts"]


@dataclass
class ClipSource:
    """Clips of one dataset: probed manifest rows and every clip's captions."""

    dataset: str
    manifest: list[ManifestRow]
    captions: dict[str, list[str]]
    inputs: dict


def panda_shards_source(panda: PandaFolder) -> ClipSource | None:
    """The ingested Panda-70M shards (see sources.panda70m.ingest_panda_shards), or None when there are none."""
    rows, captions, manifests = ingested_clips(panda)
    if not rows:
        return None
    return ClipSource("panda-70m", rows, captions, {"panda_manifests": [str(m) for m in manifests],
                                                    "panda_manifest_sha256": content_fingerprint(*manifests)})


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
    previous_shards: Mapping[str, tuple[str, int]] | None = None,
) -> ScenarioMetadataResult:
    """Label the ok clips of the layout's MSR-VTT raw folder (annotation + manifest), plus its ingested Panda-70M
    shards when there are any, and split them per scenario. `limit` applies to the MSR-VTT clips. Each record's
    image and latent paths are the layout's, for its frame configuration: the frame stage writes exactly there.
    Each clip gets its shard of work (lib.shards): the one in `previous_shards` while its scenario is the same."""
    started = time.perf_counter()
    if not 0.0 <= validation_ratio < 1.0:
        raise ValueError(f"validation ratio must be in [0, 1), got {validation_ratio}")
    scenarios_source = None
    if not isinstance(scenarios, ScenarioConfig):
        scenarios_source = Path(scenarios) if scenarios is not None else packaged_scenarios_path()
        scenarios = load_scenarios(scenarios_source)
    labeller = make_labeller(scenarios, cache_root=layout.cache_root, labeller=labeller_kind, encoder=encoder)

    annotation_path = layout.msr_vtt.annotation
    manifest_path = layout.msr_vtt.manifest
    annotation = load_annotation(annotation_path)
    manifest = read_manifest(manifest_path)
    if limit is not None:
        manifest = manifest[:limit]
    sources = [ClipSource("msr-vtt", manifest, captions_by_video(annotation), {})]
    panda = panda_shards_source(layout.panda)
    if panda is not None:
        sources.append(panda)
    captions = {vid: caps for source in sources for vid, caps in source.captions.items()}
    dataset_of = {row.video_id: source.dataset for source in sources for row in source.manifest}
    manifest = [row for source in sources for row in source.manifest]

    usable = [row for row in manifest if row.status == "ok" and not unsafe_id_reason(row.video_id)]
    clip_labels = dict(zip((row.video_id for row in usable), label_clips(
        labeller, [(row.video_id, captions.get(row.video_id, []), row.category) for row in usable])))
    excluded: list[dict] = []
    labelled: dict[str, list[tuple[ManifestRow, ClipLabel]]] = defaultdict(list)
    for row in manifest:
        if row.status != "ok":
            excluded.append({"video_id": row.video_id, "reason": f"clip_{row.status}", "detail": row.error})
            continue
        unsafe = unsafe_id_reason(row.video_id)
        if unsafe:  # a manifest edited by hand: its id never becomes a path
            excluded.append({"video_id": row.video_id[:MAX_ID_LENGTH], "reason": UNSAFE_ID, "detail": unsafe})
            continue
        clip = clip_labels[row.video_id]
        if clip.result is None or clip.result.scenario is None:
            excluded.append({"video_id": row.video_id, "reason": clip.reason, "detail": clip.detail})
            continue
        labelled[clip.result.scenario].append((row, clip))

    if manifest and not labelled:
        reasons = dict(Counter(item["reason"] for item in excluded))
        raise ValueError(
            f"{manifest_path}: none of the {len(manifest)} clips could be labelled with a scenario {reasons}; "
            f"nothing was written"
        )

    document: dict[str, list[dict]] = {"train": [], "validation": []}
    per_scenario: dict[str, dict[str, int]] = {}
    shard_of = assign_shards({scenario: [row.video_id for row, _ in members] for scenario, members in labelled.items()},
                             previous_shards or {}, shard_size)
    for scenario in labeller.names:
        members = sorted(labelled.get(scenario, []), key=lambda item: _split_order_key(seed, item[0].video_id))
        n_validation = validation_count(len(members), validation_ratio)
        validation_ids = {row.video_id for row, _ in members[:n_validation]}
        per_scenario[scenario] = {"train": len(members) - n_validation, "validation": n_validation}
        # Records are in clip-id order inside each split: deterministic and easy to diff.
        for row, clip in sorted(members, key=lambda item: natural_key(item[0].video_id)):
            split = "validation" if row.video_id in validation_ids else "train"
            result = clip.result
            # The first caption that names the scenario is the clip's caption; the others become variants.
            supporting = [clip.captions[i] for i in result.supporting]
            caption = supporting[0]
            original = clip.originals[result.supporting[0]]
            document[split].append(
                {
                    "video_id": row.video_id,
                    "split": split,
                    "scenario": scenario,
                    "shard": shard_of[row.video_id],
                    "video_path": row.path,
                    "image_path": str(layout.image(scenario, row.video_id)),
                    "latent_path": str(layout.latent(scenario, row.video_id)),
                    "caption": caption,
                    **({"original_caption": original} if original != caption else {}),
                    "prompt_variants": labeller.prompt_variants(scenario, caption, supporting[1:]),
                    "source": {
                        "dataset": dataset_of[row.video_id],
                        **(
                            {"msr_vtt_split": row.source_split, "category": CATEGORY_NAMES.get(row.category)}
                            if dataset_of[row.video_id] == "msr-vtt"
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
                }
            )

    reasons = Counter(item["reason"] for item in excluded)
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
            **{key: value for source in sources for key, value in source.inputs.items()},
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
            "clips_considered": len(manifest),
            "per_dataset": dict(Counter(dataset_of[row.video_id] for row in manifest)),
            "labelled": sum(len(v) for v in labelled.values()),
            "train": len(document["train"]),
            "validation": len(document["validation"]),
            "excluded": len(excluded),
            "excluded_by_reason": dict(sorted(reasons.items())),
            "per_scenario": per_scenario,
            "shards_per_scenario": {scenario: len({shard_of[row.video_id] for row, _ in labelled.get(scenario, [])})
                                    for scenario in labeller.names},
        },
        "labelling": labelling_summary(labeller, labelled, scenarios.labelling.low_confidence),
        "excluded": excluded,
        "duration_s": round(time.perf_counter() - started, 3),
    }
    return ScenarioMetadataResult(document, report)


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


def label_clips(labeller, clips: list[tuple[str, list, int | None]]) -> list[ClipLabel]:
    """Each clip's label from all of its captions, as every tool labels (the metadata stage, label_captions): the
    captions normalised once, embedded in one batch (from the cache where they are), then labelled; a clip whose
    captions are all blank is `empty_caption`. `clips`: (video id, raw captions, category or -1/None)."""
    prompts = [caption_prompts(raw) for _, raw, _ in clips]
    labeller.prepare([caption for kept, _ in prompts for caption in kept])
    labels = []
    for (video_id, raw, category), (kept, originals) in zip(clips, prompts):
        if raw and not kept:
            labels.append(ClipLabel(None, [], [], EMPTY_CAPTION,
                                    f"clip {video_id}: all {len(raw)} caption(s) are empty or whitespace only"))
            continue
        result = labeller.label(kept, category if category is not None and category >= 0 else None)
        labels.append(ClipLabel(result, kept, originals, result.reason, result.detail))
    labeller.close()
    return labels


def label_annotation(annotation_path: Path | str, scenarios: ScenarioConfig, *, cache_root: Path | None,
                     labeller_kind: str | None = None, limit: int | None = None, encoder=None) -> tuple[list[dict], dict]:
    """Labels from an MSR-VTT annotation's captions and categories alone (no videos), with exactly the labeller and
    rules the metadata stage uses: one row per video (`video_id`, `scenario` or None, `reason`, `confidence`), and
    how they were made. A `.gz` annotation is read as it is."""
    annotation = load_annotation(annotation_path)
    captions = captions_by_video(annotation)
    videos = annotation["videos"][:limit] if limit else annotation["videos"]
    labeller = make_labeller(scenarios, cache_root=cache_root, labeller=labeller_kind, encoder=encoder)
    started = time.perf_counter()
    clips = label_clips(labeller, [(v["video_id"], captions.get(v["video_id"], []), v.get("category")) for v in videos])
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


def labelling_summary(labeller, labelled: dict[str, list[tuple[ManifestRow, ClipLabel]]], low_confidence: float) -> dict:
    """How the labels were made and how sure they are: the labeller, the label distribution, a confidence
    histogram, the share below `low_confidence` and the least confident labelled clips."""
    rows = [(row.video_id, scenario, float(clip.result.evidence.get("confidence", 1.0)), clip.result.evidence.get("votes"))
            for scenario, members in labelled.items() for row, clip in members]
    histogram = Counter()
    for _, _, confidence, _ in rows:
        upper = next(b for b in CONFIDENCE_BINS[1:] if confidence <= b or b == 1.0)
        histogram[f"<={upper:.1f}"] += 1
    low = [r for r in rows if r[2] < low_confidence]
    least = sorted(rows, key=lambda r: (r[2], r[0]))[:10]
    return {
        **labeller_identity(labeller),
        "labels": dict(Counter(scenario for _, scenario, _, _ in rows)),
        "confidence_histogram": {k: histogram[k] for k in sorted(histogram)},
        "low_confidence": low_confidence,
        "low_confidence_share": round(len(low) / len(rows), 4) if rows else 0.0,
        "least_confident": [{"video_id": v, "scenario": s, "confidence": c, "votes": votes} for v, s, c, votes in least],
        "embeddings_computed": getattr(labeller, "computed", None),
    }


def _document_json(document: dict) -> str:
    """One record per line: readable and diffable, and fast (the C encoder only runs without `indent`)."""
    parts = []
    for split in SPLITS:
        body = ",\n".join(f"  {json.dumps(record, ensure_ascii=False)}" for record in document[split])
        parts.append(f'"{split}": [\n{body}\n]' if body else f'"{split}": []')
    return "{" + ",\n".join(parts) + "}\n"


def write_scenario_metadata(result: ScenarioMetadataResult, output: Path | str) -> Path:
    """Write the metadata and its report atomically (the report last: it describes finished files). A `.parquet`
    output is the store (files.metadata_store) with a JSON view beside it; any other is one JSON document."""
    output = Path(output)
    if is_store(output):
        write_records(output, records(result.document), scenario_order=result.report["settings"]["scenarios"])
        write_json_atomic(output.with_suffix(".json"), metadata_view(result, output))
    else:
        write_text_atomic(output, _document_json(result.document))
    write_json_atomic(metadata_report_path(output), {**result.report, "output": str(output)})
    return output


VIEW_SAMPLES = 3  # records per scenario shown in the view


def metadata_view(result: ScenarioMetadataResult, store: Path) -> dict:
    """The JSON a person reads: where the store is, counts per scenario, split and shard, a few records of each
    scenario. Not the store: the stages read the Parquet file."""
    per_shard: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(Counter))
    samples: dict[str, list[dict]] = defaultdict(list)
    for record in records(result.document):
        per_shard[record["scenario"]][str(record["shard"])][record["split"]] += 1
        if len(samples[record["scenario"]]) < VIEW_SAMPLES:
            samples[record["scenario"]].append(record)
    return {
        "store": str(store),
        "about": "a view of the scenario metadata: the records are in the store (Parquet, one row group per shard of "
                 "work; pandas.read_parquet reads it)",
        "counts": {k: result.counts[k] for k in ("train", "validation", "excluded", "per_scenario", "shards_per_scenario")},
        "records_per_shard": {scenario: {shard: dict(splits) for shard, splits in shards.items()}
                              for scenario, shards in per_shard.items()},
        "samples": dict(samples),
    }


# --- validation, shared by the checks and the tests -------------------------------------------------------


def load_metadata_document(path: Path | str) -> dict:
    """Every record as {"train": [...], "validation": [...]}: from the store or a JSON document."""
    return read_document(path)


def metadata_schema_problems(document: object) -> list[str]:
    try:
        _DOCUMENT_ADAPTER.validate_python(document)
    except ValidationError as exc:
        return format_validation_error(exc)
    problems = []
    for split in SPLITS:
        for i, record in enumerate(document[split]):  # type: ignore[index]
            if record["split"] != split:
                problems.append(f"{split}[{i}].split: record says {record['split']!r}")
            if record["prompt_variants"][0] != record["caption"]:
                problems.append(f"{split}[{i}].prompt_variants: the first variant is not the caption")
            for k, prompt in enumerate(record["prompt_variants"]):
                problem = prompt_problem(prompt)
                if problem:  # a blank or multi-line prompt would shift every later line of a trainer's prompts.txt
                    problems.append(f"{split}[{i}].prompt_variants[{k}] ({record['video_id']}): {problem}")
            expected_tail = f"/latents/{record['scenario']}/{record['video_id']}.npz"
            if not record["latent_path"].endswith(expected_tail):
                problems.append(f"{split}[{i}].latent_path: {record['latent_path']!r} does not end in {expected_tail!r}")
    return problems


def clips_in_both_splits(document: dict) -> list[str]:
    train = {r["video_id"] for r in document["train"]}
    validation = {r["video_id"] for r in document["validation"]}
    duplicated = [vid for split in SPLITS for vid, n in Counter(r["video_id"] for r in document[split]).items() if n > 1]
    return sorted(train & validation) + sorted(set(duplicated))


def validation_share_problems(document: dict, ratio: float) -> tuple[list[str], dict[str, dict]]:
    """Per scenario: the validation count must be within one clip of ratio x clips."""
    per_scenario: dict[str, Counter] = defaultdict(Counter)
    for split in SPLITS:
        for record in document[split]:
            per_scenario[record["scenario"]][split] += 1
    problems, table = [], {}
    for scenario, counts in sorted(per_scenario.items()):
        total = counts["train"] + counts["validation"]
        expected = total * ratio
        table[scenario] = {"train": counts["train"], "validation": counts["validation"], "expected_validation": round(expected, 2)}
        if abs(counts["validation"] - expected) > 1.0:
            problems.append(
                f"{scenario}: {counts['validation']} of {total} clips in validation, expected {expected:.1f} (ratio {ratio})"
            )
    return problems, table


def scenario_clip_counts(document: dict) -> dict[str, int]:
    return dict(Counter(r["scenario"] for split in SPLITS for r in document[split]))


def recorded_shards(path: Path | str) -> dict[str, tuple[str, int]]:
    """video_id -> (scenario, shard) of an existing metadata file (empty when there is none or it has no shards):
    what a rebuild keeps, so no clip changes shard while it keeps its scenario."""
    path = Path(path)
    if not path.exists():
        return {}
    try:  # three columns of the store, whatever its size
        return {video_id: (scenario, shard) for video_id, scenario, shard in shard_column(path)}
    except (ValueError, KeyError, TypeError, OSError, pa.ArrowException):
        return {}  # an unreadable earlier file: shards are assigned afresh (nothing is lost but the grouping)


def records(document: dict) -> Iterable[dict]:
    for split in SPLITS:
        yield from document[split]
