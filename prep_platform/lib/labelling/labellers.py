"""Which labeller labels: the scenarios file's `labelling.labeller` (embedding by default, or keywords), or an
explicit choice. Every stage that labels (metadata, the Panda-70M subset, VATEX prompts, label_captions) gets its
labeller here, so they all label alike."""

from __future__ import annotations

from pathlib import Path

from prep_platform.lib.layout import CacheFolder
from prep_platform.lib.scenarios import LABELLERS, ScenarioConfig, ScenarioLabeller


def make_labeller(config: ScenarioConfig, *, cache_root: Path | str | None = None, labeller: str | None = None,
                  encoder=None):
    """`cache_root`: `<data-root>/cache` (caption embeddings under `labels/`, the unpacked model under `models/`);
    None keeps embeddings in memory and unpacks the model under the system temp folder."""
    kind = labeller or config.labelling.labeller
    if kind not in LABELLERS:
        raise ValueError(f"labeller must be one of {', '.join(LABELLERS)}, got {kind!r}")
    if kind == "keywords":
        return ScenarioLabeller(config)
    from prep_platform.lib.labelling.embedding import EmbeddingLabeller
    from prep_platform.lib.labelling.embedding import SentenceEncoder

    if encoder is None:
        import tempfile

        models = CacheFolder(Path(cache_root)).models if cache_root is not None else Path(tempfile.gettempdir()) / "prep_platform_models"
        encoder = SentenceEncoder.from_env(models)
    if hasattr(encoder, "verify"):
        encoder.verify()  # a tampered label model is refused before anything is labelled, even from cached embeddings
    return EmbeddingLabeller(config, encoder, cache_dir=CacheFolder(Path(cache_root)).labels if cache_root is not None else None)


def labeller_identity(labeller) -> dict:
    """What labelled (goes into reports): the kind, and for embeddings the model and rule version."""
    if getattr(labeller, "kind", "keywords") == "embedding":
        from prep_platform.lib.labelling.embedding import EMBEDDING_LABELLER_VERSION

        return {"labeller": "embedding", "model": labeller.encoder.tag, "rules_version": EMBEDDING_LABELLER_VERSION,
                "model_source": getattr(labeller.encoder, "source", ""),
                **({"model_files": labeller.encoder.files} if getattr(labeller.encoder, "files", None) else {})}
    return {"labeller": "keywords"}
