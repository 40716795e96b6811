"""The sentence-embedding scenario labeller (the default). Every caption is embedded and compared with each
scenario (its description and example captions) and with "other content" (video games, cartoons, music videos,
talk shows, tutorials, ... and each scenario's counter-examples: captions that use its words and are not it). A
caption votes for the class it is most similar to, when clearly so, weighted by how clearly (its lead over the next
class); a clip takes a scenario only when enough of the weight goes to it, with a margin over the runner-up scenario
and over other content. One caption (Panda-70M)
or ten (VATEX) work the same way: the thresholds are shares of the clip's captions.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import atomic_path
from prep_platform.lib.layout import label_embedding_part, label_embedding_parts, label_embeddings_folder
from prep_platform.lib.msr_vtt_categories import CATEGORY_NAMES
from prep_platform.lib.progress import ProgressCallback
from prep_platform.lib.scenarios import NO_MATCH, WEAK_MATCH, LabelResult, ScenarioConfig, prompt_variants

OTHER = "other"
NEUTRAL = "neutral"  # captions that say nothing about the scene: they abstain
OTHER_CONTENT = "other_content"
EMBEDDING_LABELLER_VERSION = "1"  # bump when the voting rules change: labels are rebuilt


@dataclass(frozen=True)
class Prototype:
    group: str  # a scenario name, or OTHER
    name: str  # what the reason says: the scenario, an other-content name, "counter-example of <scenario>"
    text: str


def prototypes(config: ScenarioConfig) -> list[Prototype]:
    found = []
    for scenario, spec in config.scenarios.items():
        # A scenario described by keywords alone (an older scenarios file) is described by them.
        texts = [spec.description] if spec.description else []
        if not texts and not spec.examples:
            texts = [f"{scenario.replace('_', ' ')}: {', '.join(spec.keywords)}"]
        found += [Prototype(scenario, scenario, text) for text in [*texts, *spec.examples]]
        found += [Prototype(OTHER, f"counter-example of {scenario}", text) for text in spec.counter_examples]
    for name, texts in config.other_content.items():
        found += [Prototype(OTHER, name, text) for text in texts]
    found += [Prototype(NEUTRAL, NEUTRAL, text) for text in config.neutral_captions]
    return found


PROGRESS_BATCH = 512  # captions embedded between two progress reports: ~1-2 s on one CPU core


class EmbeddingLabeller:
    """`encoder`: lib.models.sentence_encoder.SentenceEncoder (or anything with `encode(list[str]) -> [N, D]` unit
    vectors and a `tag`); `cache_dir`: where caption embeddings are kept (None: in memory only)."""

    kind = "embedding"

    def __init__(self, config: ScenarioConfig, encoder, *, cache_dir=None):
        self.config = config
        self.names = list(config.scenarios)
        self.encoder = encoder
        self.cache = EmbeddingCache(cache_dir, encoder.tag)
        self.protos = prototypes(config)
        if not any(p.group != OTHER for p in self.protos):
            raise ValueError("the embedding labeller needs a description or examples for at least one scenario")
        self.groups = [*self.names, OTHER, NEUTRAL]
        self._proto_group = np.array([self.groups.index(p.group) for p in self.protos])
        self._proto_vectors: np.ndarray | None = None
        self.computed = 0  # captions embedded by this labeller (not found in the cache)

    def _prototype_vectors(self) -> np.ndarray:
        if self._proto_vectors is None:  # cached like captions: a re-run with the same YAML embeds nothing
            self._proto_vectors = self._vectors([p.text for p in self.protos])
        return self._proto_vectors

    def prepare(self, captions: Sequence[str], progress: ProgressCallback | None = None) -> None:
        """Embed every caption not in the cache yet, in large batches, and keep them (call once before labelling
        many clips; `label` embeds what is still missing itself). `progress` (captions embedded, captions to embed)
        from the start, before the model loads (the first run's ~20 s), then after each batch."""
        encode = self._encode if progress is None else self._encoding_with(progress)
        self.cache.vectors(list(captions), encode)
        self.cache.flush()

    def _encoding_with(self, progress: ProgressCallback):
        def encode(texts: list[str]) -> np.ndarray:
            progress(0, len(texts), Counter())
            parts = []
            for start in range(0, len(texts), PROGRESS_BATCH):
                parts.append(self._encode(texts[start:start + PROGRESS_BATCH]))
                progress(min(start + PROGRESS_BATCH, len(texts)), len(texts), Counter())
            return np.concatenate(parts)

        return encode

    def _vectors(self, captions: Sequence[str]) -> np.ndarray:
        return self.cache.vectors(list(captions), self._encode).astype(np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.computed += len(texts)
        return self.encoder.encode(texts)

    def label(self, captions: Sequence[str], category: int | None = None) -> LabelResult:
        settings = self.config.labelling
        category_name = CATEGORY_NAMES.get(category) if category is not None else None
        if not captions:
            return LabelResult(None, NO_MATCH, f"no captions (category {category_name})", {"captions": 0, "category": category_name})
        similarity = self._vectors(captions) @ self._prototype_vectors().T  # [captions, prototypes]
        # Each caption's best similarity per class, and the prototype that gave it.
        per_group = np.full((len(captions), len(self.groups)), -2.0, dtype=np.float32)
        best_proto = np.zeros((len(captions), len(self.groups)), dtype=np.int64)
        for g in range(len(self.groups)):
            columns = np.flatnonzero(self._proto_group == g)
            if len(columns):
                block = similarity[:, columns]
                per_group[:, g] = block.max(axis=1)
                best_proto[:, g] = columns[block.argmax(axis=1)]
        order = np.argsort(-per_group, axis=1)
        rows = np.arange(len(captions))
        # How clearly each caption reads as its best class: its lead over the next one. A vote weighs that much, so
        # "a car drives down the highway" counts for more than "a man is near a car".
        gaps = per_group[rows, order[:, 0]] - per_group[rows, order[:, 1]]
        votes: Counter = Counter()
        weights: Counter = Counter()
        other_names: Counter = Counter()
        voters: dict[str, list[int]] = {}
        for i in range(len(captions)):
            first = order[i, 0]
            if per_group[i, first] < settings.min_similarity or gaps[i] < settings.caption_margin:
                continue  # the caption does not say clearly what the clip is
            group = self.groups[first]
            if group == NEUTRAL:
                continue  # "a man is talking": says nothing about the scene, for or against
            votes[group] += 1
            weights[group] += float(gaps[i])
            voters.setdefault(group, []).append(i)
            if group == OTHER:
                other_names[self.protos[best_proto[i, first]].name] += 1
        n = len(captions)
        total = float(np.clip(gaps, 0.0, None).sum()) or 1.0  # every caption's clarity, neutral ones included
        shares = {group: weights[group] / total for group in self.groups}
        ranked = sorted(self.names, key=lambda s: (-shares[s], self.names.index(s)))
        best, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        competitor = max(shares[runner_up] if runner_up else 0.0, shares[OTHER])
        margin = shares[best] - competitor
        evidence = {
            "labeller": "embedding", "model": self.encoder.tag, "captions": n, "category": category_name,
            "votes": {group: votes[group] for group in self.groups if votes[group]},
            "vote_shares": {group: round(shares[group], 3) for group in self.groups if votes[group]},
            "supporting_captions": votes[best],
            "abstained": n - sum(votes.values()),
            "margin": round(margin, 3),
            "confidence": round(max(0.0, min(1.0, margin)), 3),
            "runner_up": runner_up,
            "other_content": dict(other_names.most_common(3)),
        }
        if shares[best] >= settings.min_vote_share and margin >= settings.min_vote_margin and shares[best] > 0:
            deciding = sorted(voters[best], key=lambda i: -per_group[i, self.groups.index(best)])
            evidence["deciding_captions"] = [captions[i] for i in deciding[:3]]
            # The supporting captions in the clip's order: the first is the record's caption, as with keywords.
            return LabelResult(best, "", "", evidence, sorted(voters[best]))
        if shares[OTHER] >= settings.min_vote_share and shares[OTHER] >= shares[best]:
            name = other_names.most_common(1)[0][0]
            evidence["confidence"] = round(min(1.0, shares[OTHER] - shares[best]), 3)
            return LabelResult(None, f"{OTHER_CONTENT}: {name}",
                               f"{votes[OTHER]} of {n} captions read as {name} (best scenario {best!r}: {votes[best]})",
                               evidence)
        if votes[best] == 0:
            return LabelResult(None, NO_MATCH, f"no caption of {n} reads as a scenario (category {category_name})",
                               evidence)
        return LabelResult(None, WEAK_MATCH,
                           f"best scenario {best!r} has {votes[best]} of {n} caption votes, {shares[best]:.0%} of the "
                           f"weight (needs {settings.min_vote_share:.0%} and a lead of {settings.min_vote_margin:.0%} "
                           f"over {runner_up!r} {shares[runner_up] if runner_up else 0:.0%} and other content "
                           f"{shares[OTHER]:.0%})",
                           evidence)

    def prompt_variants(self, scenario: str, caption: str, other_captions: Sequence[str] = ()) -> list[str]:
        return prompt_variants(self.config, scenario, caption, other_captions)

    def close(self) -> None:
        self.cache.flush()


# --- cache ---------------------------------------------------------------------------------------------------------
# Caption embeddings cached by caption text and model: a re-run, or an edited scenarios YAML, costs only the
# scoring. Append-only parts (`part-<n>-<pid>.npz`: 16-byte keys and float16 vectors), each written atomically, so
# two runs never corrupt each other and a killed run loses only what it had not written.
#
# A vector's derivation (lib.currency): its caption (the input) embedded by the model (the settings: its tag) in the
# cache's format. The key is made of the first two, so a caption found is that caption by that model; each part
# records the model tag and format version it was written with, and is loaded only while that record is current
# (a part written before parts recorded them holds its folder's model, in version 1).

# Bumped when the same caption and model would now give another vector: every part is left unread.
CAPTION_CACHE_VERSION = 1


def caption_key(model_tag: str, caption: str) -> bytes:
    return hashlib.sha256(f"{model_tag}\0{caption}".encode()).digest()[:16]


class EmbeddingCache:
    def __init__(self, folder: Path | None, model_tag: str):
        self.folder = label_embeddings_folder(folder, model_tag) if folder is not None else None
        self.model_tag = model_tag
        self._vectors: dict[bytes, np.ndarray] = {}
        self._new: dict[bytes, np.ndarray] = {}
        self.loaded_from_disk = 0
        self.parts_not_current = 0  # parts of another model or format version, left unread
        expected = Derivation({}, model_tag, CAPTION_CACHE_VERSION)
        if self.folder is not None and self.folder.is_dir():
            for part in label_embedding_parts(self.folder):
                try:
                    with np.load(part) as data:
                        recorded = Derivation({}, str(data["model_tag"]) if "model_tag" in data else model_tag,
                                              int(data["format_version"]) if "format_version" in data else 1)
                        if not is_current(recorded, expected):
                            self.parts_not_current += 1
                            continue
                        keys, vectors = data["keys"], data["vectors"]
                except (OSError, ValueError, KeyError):
                    continue  # a damaged part only costs its captions again
                for key, vector in zip(keys, vectors):
                    self._vectors[key.tobytes()] = vector
            self.loaded_from_disk = len(self._vectors)

    def vectors(self, texts: list[str], compute) -> np.ndarray:
        """[N, D] vectors of `texts`: from the cache, the missing ones by `compute(list of distinct texts)` (kept
        for the next call and the next flush). Each text is hashed once."""
        keys = [caption_key(self.model_tag, text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts) if key not in self._vectors}
        if missing:
            for key, vector in zip(missing, compute(list(missing.values())).astype(np.float16)):
                self._vectors[key] = self._new[key] = vector
        return np.stack([self._vectors[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float16)

    def flush(self) -> Path | None:
        """Write what was computed since the last flush as one new part."""
        if self.folder is None or not self._new:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        for n in itertools.count(len(label_embedding_parts(self.folder))):
            path = label_embedding_part(self.folder, n, os.getpid())
            if not path.exists():
                break
        keys = np.frombuffer(b"".join(self._new), dtype=np.uint8).reshape(len(self._new), 16)
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, keys=keys, vectors=np.stack(list(self._new.values())), model_tag=np.array(self.model_tag),
                     format_version=np.array(CAPTION_CACHE_VERSION))
        self._new = {}
        return path
