"""The prompt stage: every prompt variant of every record (the caption first) encoded by the text encoder into one
file per distinct prompt. Files are keyed by the prompt's sha256 inside a folder per encoder identity, so an
identical prompt is encoded once, a changed caption re-encodes only that prompt, and a run with nothing changed
encodes nothing."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prep_platform import __version__
from prep_platform.lib.files import row_table
from prep_platform.lib.files.row_table import column
from prep_platform.lib.files.atomic import folder_lock
from prep_platform.lib.currency import is_current
from prep_platform.lib.files.prompt_embedding_file import (
    PromptEmbeddingHeader,
    normalise_prompt,
    prompt_derivation,
    prompt_sha256,
    read_prompt_header,
    write_prompt_embedding,
)
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.progress import ProgressCallback, say_on_stderr
from prep_platform.lib.sample import ClipPrompts
from prep_platform.lib.statuses import ENVIRONMENT, status_counts



@dataclass
class PromptRow:
    """A row of the prompt manifest: one prompt variant of one clip and the embedding file it maps to. The
    manifest's Parquet columns come from these fields."""

    video_id: str = column("the clip")
    split: str | None = column("train or validation")
    variant: int = column("0: the caption; k: the k-th prompt variant")
    prompt: str = column("the prompt as encoded (normalised)")
    prompt_sha256: str = column("its sha256: the embedding file's name")
    path: str = column("the embedding file (from the layout)")
    status: str = column("encoded, skipped (current) or failed")
    reason: str | None = column("what went wrong")
    cause: str | None = column("environment when the machine failed")


@dataclass
class PromptStageResult:
    rows: list[dict]  # one per (clip, prompt variant)
    encoder_identity: dict
    encoder_tag: str
    prompts: dict[str, str] = field(default_factory=dict)  # sha256 -> status of each distinct prompt
    duration_s: float = 0.0
    encode_seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Per distinct prompt: encoded, skipped (current), failed."""
        return status_counts(self.prompts.values())


def prompts_of(records: list[dict]) -> list[dict]:
    """(video_id, split, variant index, prompt) for every prompt variant of every record; variant 0 is the caption."""
    rows = []
    for clip in map(ClipPrompts.from_record, records):  # the metadata file's boundary: typed from here on
        for index, prompt in enumerate(clip.prompts):
            rows.append({"video_id": clip.video_id, "split": clip.split, "variant": index,
                         "prompt": normalise_prompt(prompt)})
    return rows


def run_prompt_stage(records: list[dict], layout: DataLayout, encoder, *, progress: ProgressCallback | None = None,
                     on_wait=None) -> PromptStageResult:
    """Encode the prompts of `records` whose file is missing or not current (lib.currency: made by another
    encoder, or in an older format)."""
    started = time.perf_counter()
    tag, fingerprint = encoder.tag(), encoder.identity_fingerprint()
    rows = prompts_of(records)
    distinct = {prompt_sha256(row["prompt"]): row["prompt"] for row in rows}
    result = PromptStageResult(rows, encoder.identity(), tag)
    folder = layout.prompt_embedding_folder(tag)
    with folder_lock([folder], on_wait or say_on_stderr):
        to_encode = []
        for sha, prompt in distinct.items():
            header = read_prompt_header(layout.prompt_embedding(tag, sha))
            if is_current(header.derivation() if header is not None else None, prompt_derivation(sha, fingerprint)):
                result.prompts[sha] = "skipped"
            else:
                to_encode.append((sha, prompt))
        counts: Counter = Counter(result.prompts.values())
        reasons: dict[str, str] = {}
        size = encoder.settings.batch_size
        for start in range(0, len(to_encode), size):
            batch = to_encode[start:start + size]
            try:
                began = time.perf_counter()
                states = encoder.encode([prompt for _, prompt in batch])
                result.encode_seconds += time.perf_counter() - began
            except Exception as exc:  # e.g. out of memory: the batch fails with the reason, the run goes on
                for sha, _ in batch:
                    result.prompts[sha], reasons[sha] = "failed", f"encode failed: {type(exc).__name__}: {exc}"
                counts.update("failed" for _ in batch)
                continue
            for (sha, prompt), state in zip(batch, states, strict=True):
                try:
                    write_prompt_embedding(layout.prompt_embedding(tag, sha), state,
                                           PromptEmbeddingHeader.build(prompt=prompt, embedding=state, encoder=encoder))
                    result.prompts[sha] = "encoded"
                except OSError as exc:
                    result.prompts[sha], reasons[sha] = "failed", f"write failed: {exc}"
                counts[result.prompts[sha]] += 1
            if progress:
                progress(len(result.prompts), len(distinct), counts)
    for row in rows:
        sha = prompt_sha256(row["prompt"])
        row.update(prompt_sha256=sha, path=str(layout.prompt_embedding(tag, sha)), status=result.prompts[sha])
        if sha in reasons:
            row.update(reason=reasons[sha], cause=ENVIRONMENT)
    result.duration_s = round(time.perf_counter() - started, 3)
    return result


def write_prompt_manifest(path: Path | str, result: PromptStageResult, partition: str) -> None:
    """The rows (Parquet, typed by PromptRow) and the JSON view of the shard's prompt stage."""
    row_table.write_manifest(path, {
        "partition": partition,
        "package_version": __version__,
        "encoder": {**result.encoder_identity, "tag": result.encoder_tag},
        "counts": result.counts,
        "duration_s": result.duration_s,
        "encode_seconds": round(result.encode_seconds, 3),
    }, "prompts", result.rows, PromptRow)


def read_prompt_manifest(path: Path | str) -> dict | None:
    """The manifest a prompt stage wrote (its rows under "prompts"), or None when it has not run (or stopped
    before it was whole)."""
    return row_table.read_manifest(path, "prompts", PromptRow)


def merged_prompt_manifests(manifests: list[dict | None]) -> dict | None:
    """The prompt manifests of a scenario's shards as one: the rows of every shard made with the first shard's
    encoder (a shard encoded by another encoder since has no embeddings here, so its samples are left out with the
    reason, never paired with another encoder's). None when no shard has one."""
    present = [manifest for manifest in manifests if manifest]
    if not present:
        return None
    tag = present[0]["encoder"]["tag"]
    return {**present[0], "prompts": [row for manifest in present if manifest["encoder"]["tag"] == tag
                                      for row in manifest["prompts"]]}
