"""The code location: each domain's definitions (defs/<domain>/definitions.py) merged, with the resources."""

import dagster as dg

from prep_platform.defs.automation import definitions as automation
from prep_platform.defs.eval import definitions as evaluation
from prep_platform.defs.exports import definitions as exports
from prep_platform.defs.frames import definitions as frames
from prep_platform.defs.latents import definitions as latents
from prep_platform.defs.metadata import definitions as metadata
from prep_platform.defs.prompts import definitions as prompts
from prep_platform.defs.raw import definitions as raw
from prep_platform.defs.storage import definitions as storage
from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource, VaeResource

DOMAINS = (raw, metadata, storage, evaluation, frames, latents, prompts, exports, automation)


def build_definitions(settings: PrepPlatformSettings | None = None, vae: VaeResource | None = None,
                      text_encoder: TextEncoderResource | None = None) -> dg.Definitions:
    resources = {"settings": settings or PrepPlatformSettings.from_env(), "vae": vae or VaeResource.from_env(),
                 "text_encoder": text_encoder or TextEncoderResource.from_env()}
    return dg.Definitions.merge(*(domain.defs for domain in DOMAINS), dg.Definitions(resources=resources))


defs = build_definitions()
