"""A data root prepared end to end on the embedded sample, through the same pipeline functions the shells call:
raw clips, metadata, frames, latents (with the flipped variant), training indexes and tiny prompt embeddings."""

from __future__ import annotations

from pathlib import Path

from prep_platform.lib import pipeline
from prep_platform.lib.models.text_encoder import TextEncoderSettings
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
from prep_platform.lib.settings import PrepSettings
from prep_platform.samples import DEMO_SAMPLE

SCENARIOS = ("urban", "nature")


def prepare_sample_root(root: Path, *, scenarios=SCENARIOS, frame_size: str = "144x96", frames: int = 9,
                        augment: bool = True) -> PrepSettings:
    settings = PrepSettings(data_root=str(root), msr_vtt_source="sample", frame_size=frame_size, frames=frames,
                            workers=0, augment=augment, msr_vtt_limit=16, export_split="all")
    layout = settings.layout()
    pipeline.fetch_msr_vtt(settings, layout, sample=DEMO_SAMPLE)
    pipeline.build_metadata(settings, layout)
    vae = VaeEncoder(VaeSettings(preset="tiny"))
    text = pipeline.load_text_encoder(TextEncoderSettings(preset="tiny", batch_size=4))
    shards = pipeline.work_shards(settings, layout)
    for scenario in scenarios:
        for shard in shards[scenario]:
            pipeline.prepare_scenario(settings, layout, scenario, shard, encoder=vae)
            pipeline.encode_prompts(settings, layout, scenario, shard, text)
    return settings
