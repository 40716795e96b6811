"""The metadata's JSON view (`scenario_metadata.json` beside the store): the records in the seed's schema, each with
where its clip's conditioning image and latent cache are, as the stages that write them last left them.

Why a view and not the store: the store has no frame-dependent path (a record stays true whatever size frames are
made at), but a person, and the seed's `jq '.train[0]' data/metadata/scenario_metadata.json`, wants to see a
clip's `image_path` and `latent_path`. So every step that changes what those are (the metadata build, the frame
stage, the latent stage) writes the view again from the store and the shards' manifests: a path is the file of
the clip's primary window for the frame configuration last prepared for its shard (`built: true`), or, before
that, the path the layout plans for it (`built: false`). Given as `--metadata`, the view stands for its store
(files.metadata_store.resolve_metadata_input).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import folder_lock, read_json_if_present, write_text_atomic
from prep_platform.lib.files.metadata_store import (
    SPLITS,
    VIEW_KIND,
    MetadataInputError,
    is_store,
    record_columns,
    record_groups,
)
from prep_platform.lib.layout import DataLayout, metadata_report_path, metadata_store_path, metadata_view_path
from prep_platform.lib.frames.stage import read_frames_manifest
from prep_platform.lib.stages.latents import CACHED_STATUSES, read_latents_manifest
from prep_platform.lib.statuses import OK

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
