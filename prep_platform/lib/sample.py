"""What flows through the stages about one sample, typed and declared once. A sample is one training window of a
clip; its window facts are chosen by the frame stage, carried by the latent stage into each cache's header and
into the training index. Rows on disk keep their own columns (lib.files.row_table); they become these values at
the file boundary (`Window.from_row`), which refuses a value of another type in one line naming the fact.

What flows: the frame stage's ok rows become `Sample`s (`Sample.from_frame_row`); the latent stage encodes
samples, the index stage lists the samples whose cache is current. The prompt stage takes each clip's
`ClipPrompts` (`ClipPrompts.from_record`, at the metadata file's boundary).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass


class SampleTypeError(ValueError):
    """A fact of a sample of another type than its declaration: one line naming the sample and the fact."""


# What each fact may hold (None always: not known). Numbers stay what they are (an int start keeps its repr: cache
# keys are made from it).
_NUMBER = (int, float)


@dataclass(frozen=True)
class Window:
    """Where a sample's window lies in its clip, as the frame stage chose it (shot detection's word included)."""

    window_index: int | None = None  # 0: the clip's primary window; k > 0: the sample <id>__w<k>
    window_start_s: float | None = None  # seconds into the source where the window starts
    window_end_s: float | None = None
    shot_index: int | None = None  # the shot the window lies in (detection on)
    shot: list | None = None  # that shot's [start, end] in seconds
    clean_window: bool | None = None  # False: no shot held a window and the best one was kept across cuts
    cuts_in_window: list | None = None  # the cut times inside such a window, seconds
    shot_detection: dict | None = None  # the detector and its settings

    @classmethod
    def from_row(cls, row: Mapping, *, sample: str = "") -> Window | None:
        """The window facts of a frame-stage row (None when it holds none: the configured window). A fact of
        another type is SampleTypeError naming the sample and the fact."""
        present = {name: row[name] for name in WINDOW_FACTS if name in row}
        if not present:
            return None
        for name, value in present.items():
            allowed = _ALLOWED[name]
            if value is not None and not _of_kind(value, allowed):
                raise SampleTypeError(f"sample {sample or row.get('sample_id') or row.get('video_id') or '?'}: window "
                                      f"fact {name!r} must be {' or '.join(t.__name__ for t in allowed)}, got {value!r}")
        return cls(**present)

    def facts(self) -> dict:
        """The facts known (not None), by their names: what a cache header and an index row record."""
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}

    def key(self) -> str:
        """What of the window decides a latent cache: where it starts (its frames follow from that) and whether it
        was kept across a cut. Shot detection settings that move no window leave the cache current."""
        return f"{self.window_start_s!r}" + (":across-cuts" if self.clean_window is False else "")


@dataclass(frozen=True)
class SourceFile:
    """The clip a sample is cut from, as the bytes it was made of (lib.source_files.source_identity), with the
    size and mtime it had when they were hashed (a hash is trusted while both hold)."""

    path: str
    fingerprint: str | None
    size_bytes: int | None = None
    mtime_ns: int | None = None

    def recorded(self) -> dict:
        """As the source-identity rule reads a record: {source_bytes, source_mtime_ns, source_fingerprint}."""
        return {"source_bytes": self.size_bytes, "source_mtime_ns": self.mtime_ns,
                "source_fingerprint": self.fingerprint}


@dataclass(frozen=True)
class EncodedWith:
    """The encoder a cache was made with: its identity (what makes two encodings comparable: profile, model,
    revision, the whole config's hash, dtype, scaling) and how it ran (not part of the identity)."""

    identity: Mapping
    device: str
    tiling: bool
    slicing: bool
    batch_size: int
    batch_choice: str
    compiled: bool


@dataclass(frozen=True)
class Sample:
    """One training window of a clip as it flows from the frame stage through the latent stage into the training
    index: which clip, which window of it, its conditioning image."""

    video_id: str
    sample_id: str  # the clip's id, or <id>__w<k> for its k-th further window
    scenario: str
    split: str | None
    source: SourceFile
    image_path: str
    window: Window | None = None  # None: the configured window (no shot detection)

    @classmethod
    def from_frame_row(cls, row: Mapping) -> Sample:
        """A frame-stage row (an ok one) as a sample: the file boundary, where a value of another type is refused
        with SampleTypeError naming the sample and the column."""
        name = row.get("sample_id") or row.get("video_id") or "?"
        def typed(column: str, allowed: tuple[type, ...], *, optional: bool = False):
            value = row.get(column)
            if (value is None and optional) or _of_kind(value, allowed):
                return value
            raise SampleTypeError(f"sample {name}: column {column!r} must be "
                                  f"{' or '.join(t.__name__ for t in allowed)}, got {value!r}")
        video_id = typed("video_id", (str,))
        return cls(video_id=video_id, sample_id=typed("sample_id", (str,), optional=True) or video_id,
                   scenario=typed("scenario", (str,)), split=typed("split", (str,), optional=True),
                   source=SourceFile(typed("video_path", (str,)), typed("source_fingerprint", (str,), optional=True),
                                     typed("source_bytes", (int,), optional=True),
                                     typed("source_mtime_ns", (int,), optional=True)),
                   image_path=typed("image_path", (str,), optional=True) or "",
                   window=Window.from_row(row, sample=name))


@dataclass(frozen=True)
class ClipPrompts:
    """What the prompt stage encodes of one clip: its caption, then its prompt variants (the caption first)."""

    video_id: str
    split: str | None
    prompts: tuple[str, ...]

    @classmethod
    def from_record(cls, record: Mapping) -> ClipPrompts:
        """A metadata record's prompts (its caption when it has no variants). A caption or variant that is not
        text is refused with SampleTypeError naming the clip and the column."""
        name = record.get("video_id") or "?"
        variants = record.get("prompt_variants")
        if variants is None or (isinstance(variants, (list, tuple)) and not variants):
            variants, column = [record.get("caption")], "caption"
        else:
            column = "prompt_variants"
        if not isinstance(variants, (list, tuple)) or not all(isinstance(v, str) for v in variants):
            raise SampleTypeError(f"clip {name}: column {column!r} must hold text, got {variants!r}")
        split = record.get("split", "")
        if split is not None and not isinstance(split, str):
            raise SampleTypeError(f"clip {name}: column 'split' must be str, got {split!r}")
        return cls(str(name), split, tuple(variants))


def _of_kind(value, allowed: tuple[type, ...]) -> bool:
    """isinstance, except that a bool is no number (Python makes it an int) unless bool is allowed by name."""
    return isinstance(value, allowed) and (not isinstance(value, bool) or bool in allowed)


WINDOW_FACTS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Window))
_ALLOWED: dict[str, tuple[type, ...]] = {
    "window_index": (int,), "window_start_s": _NUMBER, "window_end_s": _NUMBER, "shot_index": (int,),
    "shot": (list, tuple), "clean_window": (bool,), "cuts_in_window": (list, tuple), "shot_detection": (dict,),
}
