"""Prompt embedding files: one safetensors file per distinct prompt, named by the prompt's sha256, written
atomically, self-describing.

    prompt_embedding   [max_length, hidden]  the T5 encoder's last hidden states (bf16 on CUDA, fp32 on CPU)
    metadata "header"  JSON: model id, revision, tokenizer fingerprint, max length, padding, truncation, dtype,
                       the prompt and its sha256, package version

The key and the file name are CogVideo finetune's prompt cache (`cache/prompt_embeddings/<sha256>.safetensors`,
key `prompt_embedding`), so that export is a copy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from prep_platform.lib.files.atomic import atomic_path

EMBEDDING_KEY = "prompt_embedding"


def normalise_prompt(prompt: str) -> str:
    """The text that is encoded and exported: one line, single spaces, no leading or trailing space. (Trainers
    read prompts one per line and strip them, and CogVideo keys its cache by the sha256 of that stripped line.)"""
    return " ".join(prompt.split())


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(normalise_prompt(prompt).encode("utf-8")).hexdigest()


def write_prompt_embedding(path: Path | str, embedding: torch.Tensor, header: dict) -> None:
    with atomic_path(path) as tmp:
        save_file({EMBEDDING_KEY: embedding.contiguous()}, str(tmp), metadata={"header": json.dumps(header, sort_keys=True)})


def read_prompt_header(path: Path | str) -> dict | None:
    """The header alone; None when the file is missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return json.loads((handle.metadata() or {})["header"])
    except (OSError, KeyError, ValueError, SafetensorError):
        return None


def load_prompt_embedding(path: Path | str) -> tuple[dict, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["header"]), handle.get_tensor(EMBEDDING_KEY)
