"""The tiny text encoder's tokenizer (part of its `tiny` preset: lib.models.text_encoder builds it): a word-level
vocabulary with T5's special tokens and end-of-sequence rule, built offline. Its words are the demo captions'
(CAPTION_WORDS, written out here: the model knows no sample code, and a test checks they still cover every word of
the embedded sample's captions) and the packaged scenarios'."""

from __future__ import annotations

import re
from functools import lru_cache

from prep_platform.lib.scenarios import load_scenarios

# T5's special tokens and their ids: the tiny tokenizer keeps them where T5 has them.
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"

# Every word of the embedded sample's captions (prep_platform.samples.msr_vtt: NEUTRAL_CAPTIONS and
# SCENARIO_PHRASES), sorted. A word added here changes the tokenizer, so the fingerprint of every stored tiny embedding.
CAPTION_WORDS = (
    "a", "airplane", "an", "and", "answers", "at", "beach", "big", "blocks", "board", "bowl", "briefing", "buildings",
    "bus", "busy", "cake", "calm", "car", "character", "cheers", "chef", "chocolate", "chops", "city", "clip",
    "computer", "concert", "conference", "cooking", "crash", "crowd", "dances", "down", "downtown", "drives", "driving",
    "eggs", "explaining", "fans", "festival", "first", "flags", "flour", "flows", "for", "forest", "from", "game",
    "gameplay", "gathers", "gives", "green", "highway", "hills", "in", "into", "is", "journalists", "jumps", "kitchen",
    "lake", "lapse", "large", "line", "listen", "man", "march", "microphones", "minecraft", "mixes", "mountains", "news",
    "night", "of", "off", "on", "onions", "over", "passengers", "past", "pasta", "people", "person", "pick", "player",
    "playing", "plays", "podium", "politician", "pot", "press", "protesters", "pulls", "questions", "recipe", "red",
    "reporters", "river", "road", "room", "runs", "runway", "shooter", "shops", "short", "shown", "sidewalk", "signs",
    "skyline", "skyscrapers", "someone", "something", "soup", "speaking", "speaks", "speech", "spokesperson", "square",
    "stadium", "station", "stirs", "stops", "street", "streets", "sunset", "sway", "takes", "talking", "talks", "tall",
    "the", "there", "through", "time", "to", "train", "trees", "truck", "up", "urban", "video", "view", "walk", "walks",
    "waterfall", "wave", "waves", "wind", "with", "woman",
)


def words_of(text: str) -> set[str]:
    """The tokens the tiny tokenizer splits `text` into (lower-cased runs of letters and digits, and single signs)."""
    return set(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower()))


def tiny_vocabulary() -> list[str]:
    """The demo captions' words and the packaged scenarios': enough for the demo and the tests, and the same list on
    every machine (sorted)."""
    texts: list[str] = []
    for name, spec in load_scenarios().scenarios.items():
        texts += [name, spec.description, *spec.keywords, *spec.prompt_templates]
    return sorted(set(CAPTION_WORDS).union(*map(words_of, texts)))


@lru_cache(maxsize=1)
def tiny_tokenizer():
    """A word-level tokenizer built offline from `tiny_vocabulary`, with T5's special tokens and its end-of-sequence
    rule (every prompt ends with </s>)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for word in tiny_vocabulary():
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(r"[a-z0-9]+|[^a-z0-9]"), behavior="isolated")])
    backend.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, eos_token=EOS, unk_token=UNK)
