"""The self-description a cache file carries: a frozen dataclass stored as one flat JSON object. Keys this version
does not know are kept (in `extra`) and written back; an unknown (None) field is left out, as it reads back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Self


class JsonHeader:
    """Base of the header dataclasses (each declares `extra: dict` last)."""

    extra: dict

    @classmethod
    def from_json(cls, values: Mapping) -> Self:
        if not isinstance(values, Mapping):
            raise ValueError(f"a {cls.__name__} is a JSON object, not {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in values.items() if k in known},
                   extra={k: v for k, v in values.items() if k not in known})

    def to_json(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **{k: v for k, v in values.items() if v is not None}}
