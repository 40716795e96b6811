"""Scenario definitions (YAML) and the labeller that assigns a clip to a scenario from all of its captions.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prep_platform.lib.files.atomic import unreadable
from prep_platform.lib.msr_vtt_categories import CATEGORY_IDS, CATEGORY_NAMES

DEFAULT_SCENARIOS = ("press_room", "urban", "nature", "transport", "crowd")
TEMPLATE_FIELDS = {"caption", "scenario", "description"}
NO_MATCH = "no_scenario_match"
SCENARIO_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}", re.ASCII)
WEAK_MATCH = "weak_scenario_match"


def packaged_scenarios_path() -> Path:
    return Path(str(resources.files("prep_platform") / "config" / "scenarios.yaml"))


# The seed's commands name the scenarios file `configs/data/scenarios.yaml` (the seed project's folder). This project
# ships it as prep_platform/config/scenarios.yaml; where no file of the seed's name exists, that name means it, so
# the seed's commands run as written. A file that does exist there is always the one read.
SEED_SCENARIOS_NAME = Path("configs/data/scenarios.yaml")


def scenarios_path(path: Path | str | None) -> Path:
    """The scenarios YAML a run reads: the one named, the packaged one for None or the seed's name when absent."""
    if path is None:
        return packaged_scenarios_path()
    path = Path(path)
    return packaged_scenarios_path() if path == SEED_SCENARIOS_NAME and not path.exists() else path


class ScenarioConfigError(ValueError):
    """The scenarios YAML is malformed; the message names the file, the key and the problem."""


LABELLERS = ("embedding", "keywords")


class LabellingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labeller: str = Field(default="embedding", pattern="^(embedding|keywords)$")
    # keywords
    min_caption_support: int = Field(default=2, ge=1)
    category_weight: float = Field(default=2.0, ge=0)
    max_prompt_variants: int = Field(default=6, ge=1)
    # embedding: a caption votes for the class (a scenario or other content) it is most similar to, when that
    # similarity is at least min_similarity and leads the next class by caption_margin; a vote weighs its lead. A clip
    # takes the scenario with the most weight when it has at least min_vote_share of all its captions' weight and
    # leads the runner-up scenario and other content by min_vote_margin.
    min_similarity: float = Field(default=0.3, ge=-1, le=1)
    caption_margin: float = Field(default=0.02, ge=0, le=2)
    min_vote_share: float = Field(default=0.25, gt=0, le=1)
    min_vote_margin: float = Field(default=0.1, ge=0, le=1)
    # the WARN check on scenario_metadata: labelled clips below low_confidence, as a share of the labelled ones
    low_confidence: float = Field(default=0.3, ge=0, le=1)
    max_low_confidence_share: float = Field(default=0.3, ge=0, le=1)


class ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    keywords: list[str] = Field(min_length=1)
    # keywords labeller: a caption holding one of these phrases does not support the scenario ("video game")
    negative_phrases: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    # embedding labeller: captions that are (examples) and that look alike but are not (counter_examples) this scenario
    examples: list[str] = Field(default_factory=list)
    counter_examples: list[str] = Field(default_factory=list)
    prompt_templates: list[str] = Field(default_factory=list)

    @field_validator("negative_phrases")
    @classmethod
    def _phrases_not_blank(cls, phrases: list[str]) -> list[str]:
        cleaned = [" ".join(p.lower().split()) for p in phrases]
        if any(not p for p in cleaned):
            raise ValueError("a negative phrase is blank")
        return cleaned

    @field_validator("examples", "counter_examples")
    @classmethod
    def _texts_not_blank(cls, texts: list[str]) -> list[str]:
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise ValueError("an example caption is blank")
        return [" ".join(t.split()) for t in texts]

    @field_validator("keywords")
    @classmethod
    def _keywords_not_blank(cls, keywords: list[str]) -> list[str]:
        cleaned = [" ".join(k.lower().split()) for k in keywords]
        blank = [i for i, k in enumerate(cleaned) if not k]
        if blank:
            raise ValueError(f"keyword at position {blank[0]} is blank")
        return cleaned

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, categories: list[str]) -> list[str]:
        for name in categories:
            if name not in CATEGORY_IDS:
                raise ValueError(f"unknown MSR-VTT category {name!r}; known: {', '.join(CATEGORY_NAMES.values())}")
        return categories

    @field_validator("prompt_templates")
    @classmethod
    def _templates_use_known_fields(cls, templates: list[str]) -> list[str]:
        for template in templates:
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ValueError(f"template {template!r} is not a valid format string: {exc}") from exc
            unknown = names - TEMPLATE_FIELDS
            if unknown:
                raise ValueError(f"template {template!r} uses unknown fields {sorted(unknown)}; allowed: {sorted(TEMPLATE_FIELDS)}")
        return templates


class ScenarioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    labelling: LabellingSettings = Field(default_factory=LabellingSettings)
    scenarios: dict[str, ScenarioSpec] = Field(min_length=1)
    # embedding labeller: what a clip shows when it fits no scenario (name -> descriptions), e.g. "video game"
    other_content: dict[str, list[str]] = Field(default_factory=dict)
    # embedding labeller: captions that say nothing about the scene ("a man is talking"): they abstain
    neutral_captions: list[str] = Field(default_factory=list)

    @field_validator("other_content")
    @classmethod
    def _other_content_not_blank(cls, other: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, texts in other.items():
            if not str(name).strip() or not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
                raise ValueError(f"other_content {name!r} needs a name and non-blank descriptions")
        return other

    @field_validator("scenarios")
    @classmethod
    def _names_are_path_safe(cls, scenarios: dict[str, ScenarioSpec]) -> dict[str, ScenarioSpec]:
        # Scenario names become folder names and Dagster partition keys: bounded so a name plus a clip id stays
        # well under the file system's 255-byte name limit.
        for name in scenarios:
            if not isinstance(name, str) or not SCENARIO_NAME.fullmatch(name):
                raise ValueError(
                    f"scenario name {str(name)[:60]!r} must be a lower-case letter followed by at most 47 lower-case "
                    f"letters, digits or underscores"
                )
        return scenarios

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _key_path(loc: Sequence) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


class DuplicateKeyError(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping: plain YAML keeps the last one silently, so a
    scenario defined twice would lose its first definition while its name still became a partition."""

    def construct_mapping(self, node, deep=False):
        first_seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if earlier is not None:
                raise DuplicateKeyError(
                    f"key {key!r} is defined twice: at line {earlier.line + 1}, column {earlier.column + 1} and at "
                    f"line {key_node.start_mark.line + 1}, column {key_node.start_mark.column + 1}"
                )
            first_seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_scenarios(path: Path | str | None = None) -> ScenarioConfig:
    """Load and validate a scenarios YAML (the packaged one when `path` is None or the seed's absent name)."""
    path = scenarios_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioConfigError(f"{path}: cannot read the scenarios file: {unreadable(exc)}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ScenarioConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ScenarioConfigError(f"{path}: key <root>: expected a mapping with 'scenarios', got {type(data).__name__}")
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            problem = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"key '{_key_path(item['loc'])}': {problem}")
        raise ScenarioConfigError(f"{path}: " + "; ".join(problems)) from None


@dataclass
class LabelResult:
    scenario: str | None
    reason: str  # "" when labelled, else NO_MATCH / WEAK_MATCH
    detail: str
    evidence: dict = field(default_factory=dict)
    supporting: list[int] = field(default_factory=list)  # indices of the captions that support `scenario`


# Punctuation becomes a word break: "street," and "street" are the same word.
_PUNCTUATION_TO_SPACE = str.maketrans({c: " " for c in string.punctuation})


class ScenarioLabeller:
    """Scores every scenario on all of a clip's captions (plus a category hint) and picks the best.

    Captions are split into words and looked up in tables built once from the YAML (a keyword and its plural
    forms), not scanned with a regex: set intersection in C keeps 200,000 captions well under a second.
    """

    def __init__(self, config: ScenarioConfig):
        self.config = config
        self.names = list(config.scenarios)
        self._order = {name: i for i, name in enumerate(self.names)}
        self._term_scenarios: dict[str, list[str]] = {}
        for name, spec in config.scenarios.items():
            for term in spec.keywords:
                owners = self._term_scenarios.setdefault(term, [])
                if name not in owners:
                    owners.append(name)
        self._words: dict[str, str] = {}  # one-word surface form -> term
        self._phrases: dict[tuple[str, ...], str] = {}  # multi-word surface form -> term
        for explicit_only in (False, True):
            # Plural forms first, then the keywords themselves, so an explicit keyword ("cheers") wins over
            # another keyword's plural ("cheer" + s).
            for term in self._term_scenarios:
                words = tuple(term.split())
                for suffix in ("",) if explicit_only else ("s", "es"):
                    form = words[:-1] + (words[-1] + suffix,)
                    if len(form) == 1:
                        self._words[form[0]] = term
                    else:
                        self._phrases[form] = term
        self._word_set = frozenset(self._words)
        self._phrase_starts = frozenset(form[0] for form in self._phrases)
        self._longest_phrase = max((len(form) for form in self._phrases), default=1)
        self._negatives = {name: tuple(spec.negative_phrases) for name, spec in config.scenarios.items()}
        self._category_hints: dict[int, list[str]] = {}
        for name, spec in config.scenarios.items():
            for category in spec.categories:
                self._category_hints.setdefault(CATEGORY_IDS[category], []).append(name)

    def terms_in(self, caption: str) -> list[str]:
        """Keywords found in a caption, once per occurrence; a phrase wins over the words inside it."""
        words = caption.lower().translate(_PUNCTUATION_TO_SPACE).split()
        if self._phrase_starts.isdisjoint(words):
            found = self._word_set.intersection(words)
            if not found:
                return []
            return [self._words[w] for w in found for _ in range(words.count(w))]
        terms, i = [], 0
        while i < len(words):
            if words[i] in self._phrase_starts:
                for n in range(min(self._longest_phrase, len(words) - i), 1, -1):
                    term = self._phrases.get(tuple(words[i : i + n]))
                    if term is not None:
                        terms.append(term)
                        i += n
                        break
                else:
                    if words[i] in self._words:
                        terms.append(self._words[words[i]])
                    i += 1
                continue
            if words[i] in self._words:
                terms.append(self._words[words[i]])
            i += 1
        return terms

    def label(self, captions: Sequence[str], category: int | None = None) -> LabelResult:
        settings = self.config.labelling
        support: dict[str, list[int]] = {}
        hits: dict[str, dict[str, int]] = {}
        negated: dict[str, int] = {}
        for index, caption in enumerate(captions):
            terms = self.terms_in(caption)
            if not terms:
                continue
            spaced = f" {' '.join(caption.lower().translate(_PUNCTUATION_TO_SPACE).split())} "
            seen_here: set[str] = set()
            for term in terms:
                for name in self._term_scenarios[term]:
                    if any(f" {phrase} " in spaced for phrase in self._negatives.get(name, ())):
                        negated[name] = negated.get(name, 0) + 1  # "a car racing video game": not transport
                        continue
                    counts = hits.setdefault(name, {})
                    counts[term] = counts.get(term, 0) + 1
                    seen_here.add(name)
            for name in seen_here:
                support.setdefault(name, []).append(index)
        # The category is evidence for a scenario the captions already support, never a label on its own.
        hinted = [n for n in self._category_hints.get(category, []) if n in support] if category is not None else []
        category_name = CATEGORY_NAMES.get(category) if category is not None else None
        if not support:
            return LabelResult(
                None, NO_MATCH, f"no scenario keyword in any of {len(captions)} captions (category {category_name})",
                {"captions": len(captions), "category": category_name},
            )
        scores = {
            name: len(support.get(name, ())) + (settings.category_weight if name in hinted else 0.0)
            for name in support
        }
        total_hits = {name: sum(hits.get(name, {}).values()) for name in scores}
        # Highest score; then more keyword hits; then the order of the YAML (recorded when it decided).
        ranked = sorted(scores, key=lambda n: (-scores[n], -total_hits[n], self._order[n]))
        best = ranked[0]
        runner_up = ranked[1] if len(ranked) > 1 else None
        best_support = support.get(best, [])
        evidence = {
            "score": scores[best],
            "supporting_captions": len(best_support),
            "captions": len(captions),
            "matched_terms": dict(sorted(hits.get(best, {}).items())),
            "category": category_name,
            "category_hint": best in hinted,
            "runner_up": runner_up,
            "runner_up_score": scores[runner_up] if runner_up else None,
            "confidence": round(min(1.0, len(best_support) / max(1, len(captions)) * 2), 3),
            **({"negated_captions": negated} if negated else {}),
        }
        if runner_up and (scores[runner_up], total_hits[runner_up]) == (scores[best], total_hits[best]):
            evidence["tie_broken_by"] = "scenario order in the YAML"
        # A source with fewer captions per clip than the setting (Panda-70M has one) needs all of them.
        needed = min(settings.min_caption_support, len(captions))
        if len(best_support) < needed:
            return LabelResult(
                None,
                WEAK_MATCH,
                f"best scenario {best!r} is supported by {len(best_support)} of {len(captions)} captions "
                f"(needs {needed})",
                evidence,
            )
        return LabelResult(best, "", "", evidence, best_support)

    def prompt_variants(self, scenario: str, caption: str, other_captions: Sequence[str] = ()) -> list[str]:
        return prompt_variants(self.config, scenario, caption, other_captions)

    def prepare(self, captions: Sequence[str], progress=None) -> None:
        """Nothing to compute ahead (the embedding labeller embeds here, with progress): every labeller is called alike."""

    def close(self) -> None:
        """Nothing to keep (the embedding labeller writes its caption cache here)."""


def prompt_variants(config: ScenarioConfig, scenario: str, caption: str, other_captions: Sequence[str] = ()) -> list[str]:
    """The caption first, then the scenario's templates, then other captions that support the scenario."""
    spec = config.scenarios[scenario]
    limit = config.labelling.max_prompt_variants
    fields = {"caption": caption, "scenario": scenario.replace("_", " "), "description": spec.description}
    variants = [caption]
    for template in spec.prompt_templates:
        variant = normalize_prompt(template.format(**fields))  # a YAML block template may hold line breaks
        if variant and variant not in variants:
            variants.append(variant)
    for other in other_captions:
        if other not in variants:
            variants.append(other)
    return variants[:limit]


# --- prompt_text ---------------------------------------------------------------------------------------------------
# A prompt is one line of text: trainers read prompts from line-based files (`prompts.txt`, one per sample), so a
# line or paragraph separator, a control character or an empty caption would shift every later prompt onto the wrong
# video. Captions are normalised once, at the metadata stage, and checked again where a line-based file is written.

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
