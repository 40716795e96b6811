"""The resources the assets take: the platform's settings, the VAE and the text encoder. Their fields are generated
from the core's settings (lib.settings.PrepSettings and the model settings nested in it,
lib.models.model_settings), so the UI's config, the command-line options and the pipeline share one set of names,
defaults and descriptions."""

import dagster as dg
import pydantic

from prep_platform.lib.layout import DataLayout
from prep_platform.lib.models.model_settings import TextEncoderSettings, VaeSettings
from prep_platform.lib.models.text_encoder import TextEncoder
from prep_platform.lib.models.vae import VaeEncoder
from prep_platform.lib.profiles import ModelProfile
from prep_platform.lib.settings import ENV_PREFIX, NESTED_SETTINGS, PrepSettings

SOURCE_ENV = ENV_PREFIX + "MSR_VTT_SOURCE"
# The code location opens on the embedded sample: a fresh `dagster dev` works offline. The command-line tools
# default to the Hub. Everything else follows from the source in both (lib.settings.PrepSettings.from_env).
LOCATION_DEFAULT_SOURCE = "sample"


def _fields_of(settings_model: type[pydantic.BaseModel]) -> dict:
    """Resource fields from a settings model's: name, type, default and description (nested models left out)."""
    return {name: (info.annotation, pydantic.Field(info.default, description=info.description))
            for name, info in settings_model.model_fields.items() if name not in NESTED_SETTINGS}


class _PrepSettingsBase(dg.ConfigurableResource):
    def core(self) -> PrepSettings:
        """The settings object the pipeline takes. (Its nested model settings are the VaeResource's and the
        TextEncoderResource's in Dagster: the steps that run a model require that resource.)"""
        return PrepSettings(**{name: getattr(self, name) for name in PrepSettings.model_fields if name not in NESTED_SETTINGS})

    def layout(self) -> DataLayout:
        return self.core().layout()

    @classmethod
    def from_env(cls) -> "PrepPlatformSettings":
        return cls(**PrepSettings.from_env(default_source=LOCATION_DEFAULT_SOURCE).model_dump(exclude=set(NESTED_SETTINGS)))


PrepPlatformSettings = pydantic.create_model(
    "PrepPlatformSettings", __base__=_PrepSettingsBase, __module__=__name__,
    __doc__="Data root, sources and stage settings (lib.settings.PrepSettings); PREP_PLATFORM_* variables set them.",
    **_fields_of(PrepSettings),
)


class _VaeResourceBase(dg.ConfigurableResource):
    """The model profile's VAE; its fields are PrepSettings.vae's (lib.models.model_settings.VaeSettings)."""

    def settings(self) -> VaeSettings:
        return VaeSettings(**{name: getattr(self, name) for name in VaeSettings.model_fields})

    def load(self, profile: ModelProfile | None = None) -> VaeEncoder:
        """The VAE of the run's model profile (PrepSettings.model)."""
        return VaeEncoder(self.settings(), profile)

    @classmethod
    def from_env(cls, settings: PrepSettings | None = None) -> "VaeResource":
        """From these settings (default: the code location's, from the environment). The source decides the preset
        (by_source): this shell downloads from it before it encodes."""
        settings = settings or PrepSettings.from_env(default_source=LOCATION_DEFAULT_SOURCE)
        return cls(**settings.vae_settings(by_source=True).model_dump())


VaeResource = pydantic.create_model("VaeResource", __base__=_VaeResourceBase, __module__=__name__,
                                    **_fields_of(VaeSettings))


class _TextEncoderResourceBase(dg.ConfigurableResource):
    """The model profile's text encoder; its fields are PrepSettings.text_encoder's (lib.models.model_settings)."""

    def settings(self) -> TextEncoderSettings:
        return TextEncoderSettings(**{name: getattr(self, name) for name in TextEncoderSettings.model_fields})

    def load(self, profile: ModelProfile | None = None) -> TextEncoder:
        """The text encoder of the run's model profile (PrepSettings.model)."""
        from prep_platform.lib import pipeline

        return pipeline.load_text_encoder(self.settings(), profile)

    @classmethod
    def from_env(cls, settings: PrepSettings | None = None) -> "TextEncoderResource":
        """From these settings (default: the code location's, from the environment); the source decides the preset."""
        settings = settings or PrepSettings.from_env(default_source=LOCATION_DEFAULT_SOURCE)
        return cls(**settings.text_encoder_settings(by_source=True).model_dump())


TextEncoderResource = pydantic.create_model("TextEncoderResource", __base__=_TextEncoderResourceBase,
                                            __module__=__name__, **_fields_of(TextEncoderSettings))


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
