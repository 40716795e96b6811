"""Prompt embeddings: every variant encoded, identical prompts once, a changed caption re-encodes only itself, a
run with nothing changed encodes nothing; each file says how it was made."""

from __future__ import annotations


import pytest
import torch

from prep_platform.lib.files.metadata_store import write_records
from prep_platform.lib.stages.metadata import load_metadata_document
from prep_platform.lib.stages.metadata import records as metadata_records
from prep_platform.lib import pipeline
from prep_platform.lib.files.prompt_embedding_file import load_prompt_embedding, prompt_sha256
from prep_platform.lib.models.text_encoder import MAX_LENGTH, TextEncoderSettings
from prep_platform.lib.models.tiny_tokenizer import tiny_tokenizer
from prep_platform.lib.settings import PrepSettings
from prep_platform.lib.stages.prompt_embeddings import read_prompt_manifest
from prep_platform.samples import DEMO_SAMPLE


@pytest.fixture
def prepared(tmp_path):
    settings = PrepSettings(data_root=str(tmp_path), msr_vtt_source="sample", msr_vtt_limit=12, frame_size="144x96", frames=9)
    pipeline.fetch_msr_vtt(settings, settings.layout(), sample=DEMO_SAMPLE)
    pipeline.build_metadata(settings, settings.layout())
    return settings


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.safetensors")}


def test_every_variant_is_encoded_once_per_distinct_prompt(prepared):
    layout = prepared.layout()
    scenario = pipeline.scenarios_to_prepare(prepared, layout)[0]
    records = pipeline.scenario_records(prepared, layout, scenario)
    # Two clips sharing a prompt: encoded once.
    document = load_metadata_document(layout.metadata_file)  # edited by hand, through the store's own API
    ours = [r for r in document["train"] + document["validation"] if r["scenario"] == scenario]
    ours[1]["prompt_variants"][-1] = ours[0]["prompt_variants"][-1]
    write_records(layout.metadata_file, metadata_records(document))
    encoder = pipeline.load_text_encoder(TextEncoderSettings(preset="tiny", batch_size=3))
    first = pipeline.encode_prompts(prepared, layout, scenario, 0, encoder)
    variants = sum(len(r["prompt_variants"]) for r in records)
    assert len(first.rows) == variants and first.rows[0]["variant"] == 0
    assert first.counts == {"encoded": len({row["prompt_sha256"] for row in first.rows})} and len(first.prompts) < variants
    folder = layout.prompt_embedding_folder(encoder.tag())
    before = _mtimes(folder)

    again = pipeline.encode_prompts(prepared, layout, scenario, 0, encoder)
    assert again.counts == {"skipped": len(first.prompts)} and _mtimes(folder) == before

    ours[0]["caption"] = ours[0]["prompt_variants"][0] = "a new caption about a busy street"
    write_records(layout.metadata_file, metadata_records(document))
    changed = pipeline.encode_prompts(prepared, layout, scenario, 0, encoder)
    assert changed.counts == {"encoded": 1, "skipped": len(changed.prompts) - 1}
    assert {k: v for k, v in _mtimes(folder).items() if k in before} == before  # nothing else rewritten
    manifest = read_prompt_manifest(layout.prompt_embeds_manifest(scenario, 0))
    assert {(r["video_id"], r["variant"]) for r in manifest["prompts"]} == {(r["video_id"], i) for r in ours for i in range(len(r["prompt_variants"]))}


def test_an_embedding_file_says_how_it_was_made(prepared):
    layout = prepared.layout()
    scenario = pipeline.scenarios_to_prepare(prepared, layout)[1]
    encoder = pipeline.load_text_encoder(TextEncoderSettings(preset="tiny"))
    result = pipeline.encode_prompts(prepared, layout, scenario, 0, encoder)
    row = result.rows[0]
    header, embedding = load_prompt_embedding(row["path"])
    assert header.prompt_sha256 == row["prompt_sha256"] == prompt_sha256(header.prompt)
    assert (header.model_id, header.revision, header.max_length) == (encoder.model_id, "none", MAX_LENGTH)
    assert header.tokenizer_fingerprint == encoder.identity()["tokenizer_fingerprint"]
    assert embedding.shape == (MAX_LENGTH, encoder.hidden_size) and torch.isfinite(embedding).all()
    # The stored states are the encoder's own, for this prompt.
    assert torch.equal(embedding, encoder.encode([header.prompt])[0])
    # The format's own rules: current for this encoder and prompt; another prompt or a cut tensor is named.
    assert header.is_current(encoder.identity_fingerprint(), row["prompt_sha256"])
    assert not header.is_current("another-encoder", row["prompt_sha256"])
    assert header.embedding_problem(embedding, row["prompt_sha256"]) == ""
    assert "prompt_sha256" in header.embedding_problem(embedding, "0" * 64)
    assert "shape [5," in header.embedding_problem(embedding[:5], row["prompt_sha256"])
    # Another encoder (another max length) writes elsewhere and never takes these.
    other = pipeline.load_text_encoder(TextEncoderSettings(preset="tiny", max_length=64))
    assert other.tag() != encoder.tag()
    assert pipeline.encode_prompts(prepared, layout, scenario, 0, other).counts == {"encoded": len(result.prompts)}


def test_the_tiny_tokenizer_pads_truncates_and_ends_like_t5():
    tokenizer = tiny_tokenizer()
    ids = tokenizer(["a man talks to reporters"], padding="max_length", max_length=8, truncation=True).input_ids[0]
    assert ids[5] == tokenizer.eos_token_id == 1 and ids[6:] == [0, 0] and tokenizer.unk_token_id not in ids[:5]
    long = tokenizer(["street " * 300], padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids[0]
    assert len(long) == MAX_LENGTH


def test_the_tiny_vocabulary_holds_every_word_of_the_sample_captions():
    """The tiny tokenizer's caption words are written out in lib (the model imports no demo data): they still cover
    every caption the embedded sample writes, so the demo's prompts meet no <unk>."""
    from prep_platform.lib.models.tiny_tokenizer import CAPTION_WORDS, words_of
    from prep_platform.samples.msr_vtt import NEUTRAL_CAPTIONS, SCENARIO_PHRASES

    texts = [*NEUTRAL_CAPTIONS, *(phrase for phrases in SCENARIO_PHRASES.values() for phrase in phrases)]
    assert set().union(*map(words_of, texts)) - set(CAPTION_WORDS) == set()
    assert list(CAPTION_WORDS) == sorted(set(CAPTION_WORDS))
