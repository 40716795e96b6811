"""The tiny text encoder's tokenizer: a word-level vocabulary of the sample's captions and the packaged scenarios,
with T5's special tokens and end-of-sequence rule. Demo data, so it lives with the sample; the text encoder
receives it (lib.pipeline.load_text_encoder)."""

from __future__ import annotations

import re
from functools import lru_cache

from prep_platform.lib.models.text_encoder import EOS, PAD, UNK
from prep_platform.lib.scenarios import load_scenarios
from prep_platform.samples.msr_vtt import NEUTRAL_CAPTIONS, SCENARIO_PHRASES


def tiny_vocabulary() -> list[str]:
    """The words of the embedded sample's captions and the packaged scenarios: enough for the demo and the tests,
    and the same list on every machine (sorted)."""
    texts = list(NEUTRAL_CAPTIONS) + [p for phrases in SCENARIO_PHRASES.values() for p in phrases]
    for name, spec in load_scenarios().scenarios.items():
        texts += [name, spec.description, *spec.keywords, *spec.prompt_templates]
    words = {w for text in texts for w in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())}
    return sorted(words)


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
