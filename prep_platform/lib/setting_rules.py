"""The rules a setting's value follows, as annotated types every settings model shares (the run's, the models', the
deployment's): choices, names, text and URLs. A value read from a PREP_PLATFORM_* variable that breaks one is refused
where the settings are built, in one line naming the variable (lib.settings.env_error_line). Numbers are kept
finite by each model's `allow_inf_nan=False`, and in range by their fields' bounds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict

# Every settings model: unknown fields refused, frozen, and no NaN or infinity in a float (`nan` passes no
# comparison, so a threshold set to it would silently filter nothing).
SETTINGS_CONFIG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SettingsError(ValueError):
    """A setting's value from the environment (or given explicitly) cannot be used: one line naming the variable.
    Defined here, with the rules, so that a model's settings (lib.models) refuse a value without importing
    lib.settings, which imports them (re-exported there)."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: str | None) -> str | None:
    if value is None:  # an optional setting left unset
        return None
    # A newline or NUL in a path or a name reaches file names, log lines and partition keys: never meant.
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"holds the control character U+{ord(found.group()):04X}; a path or a name cannot")
    return value


def _name(value: str | None) -> str | None:
    if value is None:
        return None
    _text(value)
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be one word: no spaces (a repo id, a revision, a device)")
    return value


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    _name(value)
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", value):
        raise ValueError("must be a URL (scheme://host...)")
    return value


def _relative(value: str | None) -> str | None:
    if value is None:
        return None
    _text(value)
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError("must be a path inside the repo: not absolute, no '..'")
    return value


def one_of(*choices: str) -> AfterValidator:
    """A text setting that takes one of `choices`. (Text with a validator rather than a Literal: the Dagster
    resource and the command-line options are generated from the fields' plain types.)"""
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return value

    return AfterValidator(check)


# `X | None` inside the Annotated, not around it: the generated resource fields and options read the plain type.
Text = Annotated[str, AfterValidator(_text)]  # a path or free text: any character but control characters
OptionalText = Annotated[str | None, AfterValidator(_text)]
Name = Annotated[str, AfterValidator(_name)]  # a repo id, revision, device: one word
OptionalName = Annotated[str | None, AfterValidator(_name)]
Url = Annotated[str, AfterValidator(_url)]
OptionalUrl = Annotated[str | None, AfterValidator(_url)]
RepoPath = Annotated[str, AfterValidator(_relative)]  # a file or folder inside a dataset repo
OptionalRepoPath = Annotated[str | None, AfterValidator(_relative)]
