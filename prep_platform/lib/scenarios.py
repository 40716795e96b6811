"""Scenario definitions (YAML) and the labeller that assigns a clip to a scenario from all of its captions."""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prep_platform.lib.msr_vtt import CATEGORY_IDS, CATEGORY_NAMES

DEFAULT_SCENARIOS = ("press_room", "urban", "nature", "transport", "crowd")
TEMPLATE_FIELDS = {"caption", "scenario", "description"}
NO_MATCH = "no_scenario_match"
WEAK_MATCH = "weak_scenario_match"


def packaged_scenarios_path() -> Path:
    return Path(str(resources.files("prep_platform") / "config" / "scenarios.yaml"))


class ScenarioConfigError(ValueError):
    """The scenarios YAML is malformed; the message names the file, the key and the problem."""


class LabellingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_caption_support: int = Field(default=2, ge=1)
    category_weight: float = Field(default=2.0, ge=0)
    max_prompt_variants: int = Field(default=6, ge=1)


class ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    keywords: list[str] = Field(min_length=1)
    categories: list[str] = Field(default_factory=list)
    prompt_templates: list[str] = Field(default_factory=list)

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

    @field_validator("scenarios")
    @classmethod
    def _names_are_path_safe(cls, scenarios: dict[str, ScenarioSpec]) -> dict[str, ScenarioSpec]:
        # Scenario names become folder names and Dagster partition keys.
        for name in scenarios:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"scenario name {name!r} must be lower-case letters, digits and underscores")
        return scenarios

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _key_path(loc: Sequence) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def load_scenarios(path: Path | str | None = None) -> ScenarioConfig:
    """Load and validate a scenarios YAML (the packaged one when `path` is None)."""
    path = Path(path) if path is not None else packaged_scenarios_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioConfigError(f"{path}: cannot read the scenarios file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioConfigError(f"{path}: malformed YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ScenarioConfigError(f"{path}: key <root>: expected a mapping with 'scenarios', got {type(data).__name__}")
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            problem = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"key '{_key_path(item['loc'])}': {problem}")
        raise ScenarioConfigError(f"{path}: " + "; ".join(problems)) from exc


@dataclass
class LabelResult:
    scenario: str | None
    reason: str  # "" when labelled, else NO_MATCH / WEAK_MATCH
    detail: str
    evidence: dict = field(default_factory=dict)


class ScenarioLabeller:
    """Scores every scenario on all of a clip's captions (plus a category hint) and picks the best."""

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
        # One alternation for every term, longest first so "press conference" wins over "press".
        terms = sorted(self._term_scenarios, key=len, reverse=True)
        alternation = "|".join(r"\s+".join(map(re.escape, t.split())) for t in terms)
        self._pattern = re.compile(rf"\b(?:{alternation})(?:e?s)?\b", re.IGNORECASE)
        self._category_hints: dict[int, list[str]] = {}
        for name, spec in config.scenarios.items():
            for category in spec.categories:
                self._category_hints.setdefault(CATEGORY_IDS[category], []).append(name)

    def _term_of(self, matched: str) -> str:
        text = " ".join(matched.lower().split())
        if text in self._term_scenarios:
            return text
        for suffix in ("es", "s"):
            if text.endswith(suffix) and text[: -len(suffix)] in self._term_scenarios:
                return text[: -len(suffix)]
        return text

    def label(self, captions: Sequence[str], category: int | None = None) -> LabelResult:
        settings = self.config.labelling
        support: dict[str, int] = {}
        hits: dict[str, dict[str, int]] = {}
        for caption in captions:
            seen_here: set[str] = set()
            for match in self._pattern.finditer(caption):
                term = self._term_of(match.group(0))
                for name in self._term_scenarios.get(term, ()):
                    terms = hits.setdefault(name, {})
                    terms[term] = terms.get(term, 0) + 1
                    seen_here.add(name)
            for name in seen_here:
                support[name] = support.get(name, 0) + 1
        hinted = self._category_hints.get(category, []) if category is not None else []
        scores = {
            name: support.get(name, 0) + (settings.category_weight if name in hinted else 0.0)
            for name in set(support) | set(hinted)
        }
        category_name = CATEGORY_NAMES.get(category) if category is not None else None
        if not support:
            return LabelResult(
                None, NO_MATCH, f"no scenario keyword in any of {len(captions)} captions (category {category_name})",
                {"captions": len(captions), "category": category_name},
            )
        # Highest score; then more keyword hits; then the order of the YAML (recorded when it decided).
        ranked = sorted(
            scores,
            key=lambda n: (-scores[n], -sum(hits.get(n, {}).values()), self._order[n]),
        )
        best = ranked[0]
        runner_up = ranked[1] if len(ranked) > 1 else None
        evidence = {
            "score": scores[best],
            "supporting_captions": support.get(best, 0),
            "captions": len(captions),
            "matched_terms": dict(sorted(hits.get(best, {}).items())),
            "category": category_name,
            "category_hint": best in hinted,
            "runner_up": runner_up,
            "runner_up_score": scores[runner_up] if runner_up else None,
        }
        if runner_up and scores[runner_up] == scores[best] and sum(hits.get(runner_up, {}).values()) == sum(
            hits.get(best, {}).values()
        ):
            evidence["tie_broken_by"] = "scenario order in the YAML"
        if support.get(best, 0) < settings.min_caption_support:
            return LabelResult(
                None,
                WEAK_MATCH,
                f"best scenario {best!r} is supported by {support.get(best, 0)} of {len(captions)} captions "
                f"(needs {settings.min_caption_support})",
                evidence,
            )
        return LabelResult(best, "", "", evidence)

    def prompt_variants(self, scenario: str, caption: str, other_captions: Sequence[str] = ()) -> list[str]:
        """The caption first, then the scenario's templates, then other captions that support the scenario."""
        spec = self.config.scenarios[scenario]
        limit = self.config.labelling.max_prompt_variants
        fields = {"caption": caption, "scenario": scenario.replace("_", " "), "description": spec.description}
        variants = [caption]
        for template in spec.prompt_templates:
            variants.append(template.format(**fields))
        for other in other_captions:
            if other not in variants:
                variants.append(other)
        return variants[:limit]

    def supporting_captions(self, scenario: str, captions: Sequence[str]) -> list[str]:
        """Captions that mention one of the scenario's keywords, in order."""
        supporting = []
        for caption in captions:
            for match in self._pattern.finditer(caption):
                if scenario in self._term_scenarios.get(self._term_of(match.group(0)), ()):
                    supporting.append(caption)
                    break
        return supporting
