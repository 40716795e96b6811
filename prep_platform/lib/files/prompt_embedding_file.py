"""Prompt embedding files: one safetensors file per distinct prompt, named by the prompt's sha256, written
atomically, self-describing.

    prompt_embedding   [max_length, hidden]  the T5 encoder's last hidden states (bf16 on CUDA, fp32 on CPU)
    metadata "header"  JSON (PromptEmbeddingHeader): model id, revision, tokenizer fingerprint, max length, padding, truncation, dtype,
                       the prompt and its sha256, package version

The key and the file name are CogVideo finetune's prompt cache (`cache/prompt_embeddings/<sha256>.safetensors`,
key `prompt_embedding`), so that export is a copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

from prep_platform.lib.currency import Derivation, is_current
from prep_platform.lib.files.atomic import atomic_path
from prep_platform.lib.files.row_table import JsonHeader

if TYPE_CHECKING:  # annotations only: torch is imported where a model runs or a tensor is written
    import torch

EMBEDDING_KEY = "prompt_embedding"
# Bumped when the same prompt and encoder would now give another file: every embedding is encoded again. Files
# written before their header recorded it are of version 1 (the header's default).
PROMPT_EMBEDDING_FORMAT_VERSION = 1


def normalise_prompt(prompt: str) -> str:
    """The text that is encoded and exported: one line, single spaces, no leading or trailing space. (Trainers
    read prompts one per line and strip them, and CogVideo keys its cache by the sha256 of that stripped line.)"""
    return " ".join(prompt.split())


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(normalise_prompt(prompt).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PromptEmbeddingHeader(JsonHeader):
    """What an embedding file was made of and with; on disk one flat JSON object whose keys are these fields (lib.
    files.json_header)."""

    prompt: str | None = None
    prompt_sha256: str | None = None
    shape: list | None = None
    # the text encoder (its identity: lib.models.text_encoder.TextEncoder.identity)
    model_id: str | None = None
    revision: str | None = None
    text_encoder_class: str | None = None
    text_encoder_subfolder: str | None = None
    text_encoder_config_sha256: str | None = None
    tokenizer_fingerprint: str | None = None
    max_length: int | None = None
    padding: str | None = None
    truncation: bool | None = None
    dtype: str | None = None
    hidden_size: int | None = None
    encoder_fingerprint: str | None = None
    format_version: int = 1  # what a header that does not say was written in; build records the current one
    package_version: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, *, prompt: str, embedding: torch.Tensor, encoder) -> PromptEmbeddingHeader:
        """The header of a fresh embedding of `prompt` (already normalised) by `encoder` (a TextEncoder)."""
        from prep_platform import __version__

        return cls(prompt=prompt, prompt_sha256=prompt_sha256(prompt), shape=list(embedding.shape), **encoder.identity(),
                   encoder_fingerprint=encoder.identity_fingerprint(), format_version=PROMPT_EMBEDDING_FORMAT_VERSION,
                   package_version=__version__)

    def derivation(self) -> Derivation:
        """What this file records it was made from (the prompt), with (the encoder) and in (lib.currency)."""
        return prompt_derivation(self.prompt_sha256, self.encoder_fingerprint, self.format_version)

    def is_current(self, encoder_fingerprint: str, sha256: str) -> bool:
        """This prompt, embedded by this encoder (model, revision, tokenizer, length, dtype), in this format:
        lib.currency's rule."""
        return is_current(self.derivation(), prompt_derivation(sha256, encoder_fingerprint))

    def embedding_problem(self, embedding: torch.Tensor, sha256: str) -> str:
        """Why a file's embedding is not the one of prompt `sha256` ("" when it is)."""
        if self.prompt_sha256 != sha256:
            return f"header prompt_sha256 {self.prompt_sha256} is not the prompt's {sha256}"
        if list(embedding.shape) != [self.max_length, self.hidden_size]:
            return f"shape {list(embedding.shape)} is not the header's [max_length, hidden_size] [{self.max_length}, {self.hidden_size}]"
        return ""


def prompt_derivation(sha256: str | None, encoder_fingerprint: str | None,
                      format_version: int | None = PROMPT_EMBEDDING_FORMAT_VERSION) -> Derivation:
    """An embedding file's derivation (lib.currency): the prompt (its sha256) encoded by the encoder (its identity's
    fingerprint), in the embedding format (the current one unless a header says which it recorded)."""
    return Derivation({"prompt": sha256}, encoder_fingerprint, format_version)


def write_prompt_embedding(path: Path | str, embedding: torch.Tensor, header: PromptEmbeddingHeader) -> None:
    from safetensors.torch import save_file  # imports torch: here, so that a process reading no embedding never does

    with atomic_path(path) as tmp:
        save_file({EMBEDDING_KEY: embedding.contiguous()}, str(tmp),
                  metadata={"header": json.dumps(header.to_json(), sort_keys=True)})


def read_prompt_header(path: Path | str) -> PromptEmbeddingHeader | None:
    """The header alone; None when the file is missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return PromptEmbeddingHeader.from_json(json.loads((handle.metadata() or {})["header"]))
    except (OSError, KeyError, ValueError, TypeError, SafetensorError):
        return None


def load_prompt_embedding(path: Path | str) -> tuple[PromptEmbeddingHeader, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return PromptEmbeddingHeader.from_json(json.loads(handle.metadata()["header"])), handle.get_tensor(EMBEDDING_KEY)
