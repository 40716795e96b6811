"""The resources the assets take: the platform's settings, the VAE and the text encoder. Their fields are generated
from the core's settings classes (lib.settings.PrepSettings, lib.models.vae.VaeSettings,
lib.models.text_encoder.TextEncoderSettings), so the UI's config, the command-line options and the pipeline share
one set of names, defaults and descriptions."""

import dataclasses
import typing

import dagster as dg
import pydantic

from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.text_encoder import TextEncoder, TextEncoderSettings
from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
from prep_platform.lib.settings import ENV_PREFIX, PrepSettings

SOURCE_ENV = ENV_PREFIX + "MSR_VTT_SOURCE"
# The code location opens on the embedded sample: a fresh `dagster dev` works offline. The command-line tools
# default to the Hub. Everything else follows from the source in both (lib.settings.PrepSettings.from_env).
LOCATION_DEFAULT_SOURCE = "sample"


def _fields_of(settings_model: type[pydantic.BaseModel]) -> dict:
    return {name: (info.annotation, pydantic.Field(info.default, description=info.description))
            for name, info in settings_model.model_fields.items()}


class _PrepSettingsBase(dg.ConfigurableResource):
    def core(self) -> PrepSettings:
        """The settings object the pipeline takes."""
        return PrepSettings(**{name: getattr(self, name) for name in PrepSettings.model_fields})

    def layout(self) -> DataLayout:
        return self.core().layout()

    @classmethod
    def from_env(cls) -> "PrepPlatformSettings":
        return cls(**PrepSettings.from_env(default_source=LOCATION_DEFAULT_SOURCE).model_dump())


PrepPlatformSettings = pydantic.create_model(
    "PrepPlatformSettings", __base__=_PrepSettingsBase, __module__=__name__,
    __doc__="Data root, sources and stage settings (lib.settings.PrepSettings); PREP_PLATFORM_* variables set them.",
    **_fields_of(PrepSettings),
)


def _dataclass_fields(settings_class) -> dict:
    types = typing.get_type_hints(settings_class)
    return {f.name: (types[f.name], pydantic.Field(f.default)) for f in dataclasses.fields(settings_class)}


class _VaeResourceBase(dg.ConfigurableResource):
    """The CogVideoX VAE (lib.models.vae.VaeSettings): `default` (pretrained, untiled), `low_memory` (tiling +
    slicing + batch 1: fits a 24 GB card at 49x480x720), `tiny` (same class, random weights, tiny config: the CPU
    demo and tests), `random_full` (full size, random weights: GPU benchmarks)."""

    def settings(self) -> VaeSettings:
        return VaeSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(VaeSettings)})

    def load(self) -> VaeEncoder:
        return VaeEncoder(self.settings())

    @classmethod
    def from_env(cls) -> "VaeResource":
        return cls(preset=PrepSettings.from_env(default_source=LOCATION_DEFAULT_SOURCE).vae_preset())


VaeResource = pydantic.create_model("VaeResource", __base__=_VaeResourceBase, __module__=__name__,
                                    **_dataclass_fields(VaeSettings))


class _TextEncoderResourceBase(dg.ConfigurableResource):
    """The CogVideoX text encoder (lib.models.text_encoder.TextEncoderSettings): `default` (the model's own T5
    encoder and tokenizer, bf16 on CUDA) or `tiny` (the same classes, tiny random config, offline tokenizer)."""

    def settings(self) -> TextEncoderSettings:
        return TextEncoderSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(TextEncoderSettings)})

    def load(self) -> TextEncoder:
        from prep_platform.lib import pipeline

        return pipeline.load_text_encoder(self.settings())

    @classmethod
    def from_env(cls) -> "TextEncoderResource":
        return cls(preset=PrepSettings.from_env(default_source=LOCATION_DEFAULT_SOURCE).text_encoder_preset())


TextEncoderResource = pydantic.create_model("TextEncoderResource", __base__=_TextEncoderResourceBase,
                                            __module__=__name__, **_dataclass_fields(TextEncoderSettings))


def run_config_class(name: str, *setting_names: str, **extra) -> type[dg.Config]:
    """A per-run config (the launchpad) that overrides these settings for one run; what is left unset keeps the
    resource's value. Names, types and descriptions are the settings' own."""
    fields = {
        setting: (PrepSettings.model_fields[setting].annotation | None,
                  pydantic.Field(None, description=PrepSettings.model_fields[setting].description))
        for setting in setting_names
    }
    return pydantic.create_model(name, __base__=dg.Config, __module__=__name__, **fields, **extra)


def run_settings(settings: "PrepPlatformSettings", config: dg.Config | None = None) -> PrepSettings:
    """The resource's settings with this run's overrides."""
    overrides = {k: v for k, v in (config.model_dump() if config is not None else {}).items() if k in PrepSettings.model_fields}
    return settings.core().with_values(**overrides)
