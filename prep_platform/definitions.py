"""The code location: the domains under defs/ discovered (each domain's definitions.py), with the resources.

Discovery is Dagster's own (`dg.load_defs` over the `prep_platform.defs` package: a folder with a definitions.py
is loaded through that file alone). Not `dg.load_from_defs_folder`: it finds the package through the project's
pyproject.toml ([tool.dg]), which an installed wheel does not carry; `load_defs` takes the imported package. Its
deprecation warning (printed on every load of the code location, in every run's log) is silenced here alone: the
replacement does not serve an installed package."""

import warnings

import dagster as dg

import prep_platform.defs as defs_package
from prep_platform.defs.resources import PrepPlatformSettings, TextEncoderResource, VaeResource


def build_definitions(settings: PrepPlatformSettings | None = None, vae: VaeResource | None = None,
                      text_encoder: TextEncoderResource | None = None) -> dg.Definitions:
    resources = {"settings": settings or PrepPlatformSettings.from_env(), "vae": vae or VaeResource.from_env(),
                 "text_encoder": text_encoder or TextEncoderResource.from_env()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Function `load_defs` is deprecated", category=DeprecationWarning)
        discovered = dg.load_defs(defs_root=defs_package)
    return dg.Definitions.merge(discovered, dg.Definitions(resources=resources))


defs = build_definitions()
