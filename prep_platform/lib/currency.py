"""Whether a derived file is current: the one rule every stage asks (frame rows, latent caches, prompt embeddings,
exports, the caption-embedding cache, the Panda-70M ingest, the metadata view's trust in a latents manifest).

A derived file is made of inputs, each named and known by its identity (a clip's sha256, a prompt's sha256, a
shard's signature), with settings (one fingerprint of everything else that decides its bytes), in a format (a
version the code bumps when the same inputs and settings would now give another file). Those three are its
`Derivation`. The file, or what describes it (its header, a manifest row, a report), records the derivation it was
made with; it is current exactly when that record equals the derivation the stage would make now
(`is_current`). When it is not, `stale_reason` says what differs, in this order: the format ("format version
2 -> 3"), then the settings ("settings changed"), then the inputs by name ("source changed"). An input whose
identity is not known (None) is never current.

The stat shortcut (`unchanged_since`): a record made while a file had some size and mtime still describes it while
both hold. It picks which record to trust, never whether a file is current: a clip's identity is its recorded sha256
while its stat holds, else it is hashed again (lib.source_files.source_identity, the one source-identity
rule); a latent cache's record is the previous manifest's row while its stat holds, else its header.

Pure: the standard library only; nothing here reads a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_RECORD = "missing or unreadable: no record of what it was made from"


@dataclass(frozen=True)
class Derivation:
    """What a derived file is made of (input name -> identity), with (the settings' fingerprint), in (the format
    version)."""

    inputs: Mapping[str, str | None] = field(default_factory=dict)
    settings: str | None = None
    format_version: int | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", dict(self.inputs))

    def fingerprint(self) -> str:
        """One hash of the whole derivation (what a file records when it keeps one value)."""
        return fingerprint_of(self.to_json(), length=24)

    def to_json(self) -> dict:
        return {"inputs": dict(sorted(self.inputs.items())), "settings": self.settings,
                "format_version": self.format_version}

    @classmethod
    def from_json(cls, values: Any) -> Derivation | None:
        """The derivation a file recorded with to_json; None for anything else (no record)."""
        if not isinstance(values, Mapping) or not isinstance(values.get("inputs"), Mapping):
            return None
        return cls(values["inputs"], values.get("settings"), values.get("format_version"))


def stale_reason(recorded: Derivation | None, expected: Derivation) -> str:
    """Why a file that recorded `recorded` is not the file `expected` describes; "" when it is (current)."""
    if recorded is None:
        return NO_RECORD
    if recorded.format_version != expected.format_version:
        return f"format version {_shown(recorded.format_version)} -> {_shown(expected.format_version)}"
    if recorded.settings != expected.settings:
        return "settings changed"
    names = sorted(set(recorded.inputs) | set(expected.inputs))
    changed = [name for name in names
               if recorded.inputs.get(name) is None or recorded.inputs.get(name) != expected.inputs.get(name)]
    if changed:
        return f"{', '.join(changed)} changed"
    return ""


def is_current(recorded: Derivation | None, expected: Derivation) -> bool:
    """The file that recorded `recorded` is the one `expected` describes: same format, settings and inputs."""
    return not stale_reason(recorded, expected)


def unchanged_since(recorded: Mapping | None, now: Mapping) -> bool:
    """The stat shortcut: `recorded` (a row, a header) holds every fact of `now` (a file's size and mtime under the
    names the record uses) with the same value, so what it records about the file still holds."""
    return bool(recorded) and bool(now) and all(
        value is not None and recorded.get(key) == value for key, value in now.items())


def fingerprint_of(payload: Any, *, length: int = 16) -> str:
    """A short sha256 of a JSON-able value (keys sorted): a settings fingerprint."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:length]


def _shown(version: int | str | None) -> str:
    return "none" if version is None else str(version)
