"""The model profile's text encoder (lib.profiles; CogVideoX: T5-XXL, 226 tokens) as an encoder of prompts: the
model's own tokenizer and encoder, padded to the profile's max length, truncated. Presets: `default` (the pretrained text_encoder and tokenizer subfolders of the
model, bf16 on CUDA) and `tiny` (the real transformers classes with a tiny random config and an offline word-level
tokenizer: the CPU demo and the tests; nothing is downloaded)."""

from __future__ import annotations

import hashlib
import re
import json
from typing import TYPE_CHECKING

from prep_platform.lib.models.model_settings import MAX_LENGTH, TEXT_ENCODER_PRESETS, TextEncoderSettings  # noqa: F401
from prep_platform.lib.models.vae import resolve_device, resolve_dtype
from prep_platform.lib.models.hub_models import load_pretrained
from prep_platform.lib.models.vae import config_sha256
from prep_platform.lib.profiles import ModelProfile, profile_named

if TYPE_CHECKING:  # annotations only: torch is imported where a model runs or a tensor is written
    import torch

TINY_T5_CONFIG = dict(profile_named(None).text_encoder.tiny_config)  # the default profile's tiny T5


def tokenizer_fingerprint(tokenizer) -> str:
    """What decides the token ids: the backend's full description (vocabulary, normalizer, rules), without the
    padding and truncation state that each call sets on it (we always pad and truncate to max_length)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        description = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")}
        text = json.dumps(description, sort_keys=True)
    else:
        text = json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TextEncoder:
    """Loads the tokenizer and the T5 encoder once; `encode` turns prompts into [B, max_length, hidden] states."""

    def __init__(self, settings: TextEncoderSettings, profile: ModelProfile | None = None, *, tokenizer=None):
        """`tokenizer`: another one for the tiny preset (it has no repo to load one from); by default its own offline
        word-level tokenizer (lib.models.tiny_tokenizer). The pretrained presets load the model's."""
        self.profile = profile or profile_named(None)
        spec = self.profile.text_encoder
        self.settings = settings = settings.of_profile(self.profile)
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        if settings.preset == "tiny":
            import torch  # here, not at the top: a process that encodes nothing never pays for it
            import transformers

            from prep_platform.lib.models.tiny_tokenizer import tiny_tokenizer

            self.tokenizer = tokenizer if tokenizer is not None else tiny_tokenizer()
            torch.manual_seed(0)  # the same random weights every time: stored embeddings stay valid across runs
            model_class = getattr(transformers, spec.model_class)
            config = model_class.config_class(vocab_size=len(self.tokenizer), pad_token_id=0, eos_token_id=1,
                                              **spec.tiny_config)
            model = model_class(config).to(self.dtype)
            self.model_id, self.revision = "tiny-random-t5-encoder(seed=0)", "none"
        else:
            def load(**options):
                import transformers  # after the check: offline, refused before

                return (transformers.AutoTokenizer.from_pretrained(settings.model_id, subfolder=spec.tokenizer_subfolder,
                                                                   revision=settings.revision, **options),
                        getattr(transformers, spec.model_class).from_pretrained(
                            settings.model_id, subfolder=spec.subfolder, revision=settings.revision,
                            torch_dtype=self.dtype, **options))

            self.tokenizer, model = load_pretrained(settings.hub_model(self.profile), load)
            self.model_id, self.revision = settings.model_id, settings.revision
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.hidden_size = int(self.model.config.d_model)
        # The whole config (any change is another encoder), less what transformers records about itself and the
        # load dtype (the identity names the dtype it encodes in).
        self.config_sha256 = config_sha256({key: value for key, value in self.model.config.to_dict().items()
                                            if key not in ("transformers_version", "torch_dtype", "dtype", "architectures")})

    def identity(self) -> dict:
        """What makes two embeddings of the same prompt interchangeable (goes into every file's header)."""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "text_encoder_class": self.profile.text_encoder.model_class,
            "text_encoder_subfolder": self.profile.text_encoder.subfolder,
            "text_encoder_config_sha256": self.config_sha256,
            "tokenizer_fingerprint": tokenizer_fingerprint(self.tokenizer),
            "max_length": self.settings.max_length,
            "padding": "max_length",
            "truncation": True,
            "dtype": str(self.dtype).removeprefix("torch."),
            "hidden_size": self.hidden_size,
        }

    def identity_fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]

    def tag(self) -> str:
        """A folder name per encoder identity: readable first, unique by its fingerprint."""
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", self.model_id.rstrip("/").split("/")[-1]).strip("-") or "text-encoder"
        return f"{name}_{self.settings.max_length}_{self.identity_fingerprint()[:8]}"

    def encode(self, prompts: list[str]) -> torch.Tensor:
        """prompts -> [B, max_length, hidden] in the encode dtype, on the CPU."""
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(prompts, padding="max_length", max_length=self.settings.max_length,
                                    truncation=True, add_special_tokens=True, return_tensors="pt")
            hidden = self.model(tokens.input_ids.to(self.device))[0]
            return hidden.to(self.dtype).cpu()
