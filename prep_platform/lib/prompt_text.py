"""A prompt is one line of text: trainers read prompts from line-based files (`prompts.txt`, one per sample), so a
line or paragraph separator, a control character or an empty caption would shift every later prompt onto the wrong
video. Captions are normalised once, at the metadata stage, and checked again where a line-based file is written."""

from __future__ import annotations

import unicodedata

# Unicode categories that break a line or are invisible control codes: Cc (C0/C1 controls: \n, \r, \t, \x0b,
# \x0c, \x1c-\x1f, \x85, ...), Zl (U+2028 LINE SEPARATOR), Zp (U+2029 PARAGRAPH SEPARATOR).
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def normalize_prompt(text: str) -> str:
    """Line breaks, separators and control characters become spaces, whitespace runs collapse to one space, the
    ends are stripped. Empty means the caption holds no text."""
    spaced = "".join(" " if unicodedata.category(char) in _BREAKING else char for char in text)
    return " ".join(spaced.split())


def prompt_problem(text: object) -> str | None:
    """Why `text` cannot be a line of prompts.txt as it is, or None."""
    if not isinstance(text, str):
        return f"prompt is a {type(text).__name__}, not text"
    if not text.strip():
        return "prompt is empty or whitespace only"
    if normalize_prompt(text) != text:
        return f"prompt {text[:40]!r} holds a line break, separator, control character or extra whitespace"
    return None
