"""Scenario YAML validation and the labeller."""

from __future__ import annotations

import pytest

from prep_platform.lib.msr_vtt_categories import CATEGORY_IDS
from prep_platform.lib.scenarios import (
    DEFAULT_SCENARIOS,
    NO_MATCH,
    WEAK_MATCH,
    ScenarioConfigError,
    ScenarioLabeller,
    load_scenarios,
)

NEUTRAL = ["a man is talking", "a video is shown", "someone explains something"]


@pytest.fixture(scope="module")
def labeller() -> ScenarioLabeller:
    return ScenarioLabeller(load_scenarios())


def test_packaged_file_defines_the_default_scenarios():
    config = load_scenarios()
    assert set(DEFAULT_SCENARIOS) <= set(config.scenarios)
    for name in DEFAULT_SCENARIOS:
        spec = config.scenarios[name]
        assert spec.keywords and spec.categories and spec.prompt_templates


def test_uses_all_captions_not_just_the_first(labeller):
    captions = NEUTRAL * 5 + ["a train pulls into the station", "a bus drives down the road"]
    result = labeller.label(captions, category=None)
    assert result.scenario == "transport"
    assert result.evidence["supporting_captions"] == 2
    assert result.evidence["matched_terms"] == {"bus": 1, "drives": 1, "road": 1, "station": 1, "train": 1}


def test_majority_of_captions_wins_over_a_single_mention(labeller):
    captions = ["a crowd cheers at a concert", "fans cheer in a stadium", "a large crowd dances", "a car is parked"]
    assert labeller.label(captions).scenario == "crowd"


def test_category_hint_breaks_a_close_call(labeller):
    captions = ["people walk down a city street", "a city street at night", "a car drives on the road", "a truck on the highway"]
    assert labeller.label(captions, category=CATEGORY_IDS["travel"]).scenario == "urban"
    result = labeller.label(captions, category=CATEGORY_IDS["vehicles/autos"])
    assert result.scenario == "transport" and result.evidence["category_hint"] is True


def test_category_alone_is_not_enough(labeller):
    result = labeller.label(NEUTRAL * 6, category=CATEGORY_IDS["vehicles/autos"])
    assert result.scenario is None and result.reason == NO_MATCH


def test_a_single_supporting_caption_is_a_weak_match(labeller):
    result = labeller.label(NEUTRAL * 6 + ["a car drives by"], category=None)
    assert result.scenario is None and result.reason == WEAK_MATCH
    assert "1 of 19 captions" in result.detail


def test_plurals_and_whole_words(labeller):
    assert labeller.label(["two cars race", "many buses wait"]).scenario == "transport"
    # "carpet" and "scarf" contain "car" but are not a match.
    assert labeller.label(["a carpet on the floor", "a red scarf", "a carpenter works"]).reason == NO_MATCH


def test_prompt_variants_start_with_the_caption(labeller):
    variants = labeller.prompt_variants("nature", "a river in the forest", ["waves on a beach"])
    assert variants[0] == "a river in the forest"
    assert "a river in the forest, in a natural landscape" in variants
    assert variants[-1] == "waves on a beach"


def _write(tmp_path, text: str):
    path = tmp_path / "scenarios.yaml"
    path.write_text(text)
    return path


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    path = _write(tmp_path, "scenarios:\n  urban:\n    keywords: [city, street\n")
    with pytest.raises(ScenarioConfigError) as error:
        load_scenarios(path)
    assert str(path) in str(error.value) and "malformed YAML" in str(error.value) and "line" in str(error.value)


def test_unknown_key_names_the_file_the_key_and_the_problem(tmp_path):
    path = _write(tmp_path, "scenarios:\n  urban:\n    keywrds: [city]\n    keywords: [city]\n")
    with pytest.raises(ScenarioConfigError) as error:
        load_scenarios(path)
    message = str(error.value)
    assert str(path) in message and "'scenarios.urban.keywrds'" in message and "unknown key" in message


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ("scenarios:\n  urban:\n    keywords: []\n", "scenarios.urban.keywords", "at least 1"),
        ("scenarios:\n  urban:\n    keywords: [city]\n    categories: [skateboarding]\n", "scenarios.urban.categories", "unknown MSR-VTT category"),
        ("scenarios:\n  urban:\n    keywords: [city]\n    prompt_templates: ['{captoin} downtown']\n", "scenarios.urban.prompt_templates", "unknown fields"),
        ("scenarios:\n  Urban Life:\n    keywords: [city]\n", "scenarios", "lower-case"),
        ("labelling:\n  min_caption_support: 0\nscenarios:\n  urban:\n    keywords: [city]\n", "labelling.min_caption_support", "greater than or equal to 1"),
        ("- just\n- a list\n", "<root>", "expected a mapping"),
    ],
)
def test_invalid_values_are_named(tmp_path, body, key, problem):
    path = _write(tmp_path, body)
    with pytest.raises(ScenarioConfigError) as error:
        load_scenarios(path)
    message = str(error.value)
    assert str(path) in message and key in message and problem in message, message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioConfigError, match="cannot read the scenarios file"):
        load_scenarios(tmp_path / "nope.yaml")


def test_a_scenario_defined_twice_is_an_error_naming_both_places(tmp_path):
    path = tmp_path / "scenarios.yaml"
    path.write_text("scenarios:\n  urban:\n    keywords: [street]\n  nature:\n    keywords: [tree]\n  urban:\n    keywords: [city]\n")
    with pytest.raises(ScenarioConfigError) as error:
        load_scenarios(path)
    message = str(error.value)
    assert str(path) in message and "'urban'" in message and "line 2" in message and "line 6" in message
