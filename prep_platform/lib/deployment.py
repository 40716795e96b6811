"""How the code location is deployed, as one settings object the definitions read: the profile (one machine,
Celery workers, Kubernetes), how many shards a backfill run takes, and the Celery and Kubernetes parameters. Set by
PREP_PLATFORM_* variables (the deployment's environment, not a run's config); a bad value is refused in one line
naming the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from prep_platform.lib.setting_rules import SETTINGS_CONFIG, Url, one_of
from prep_platform.lib.settings import DEPLOYMENT_PROFILES, env_error_line, env_values

PROFILES = DEPLOYMENT_PROFILES
# PREP_PLATFORM_PROFILE names the model profile (lib.profiles); the deployment's variable is PREP_PLATFORM_DEPLOYMENT.
# A PREP_PLATFORM_PROFILE holding a deployment's name (its meaning before model profiles) is still read as one.
DEPLOYMENT_ALIASES = {"profile": "PREP_PLATFORM_DEPLOYMENT"}
OLD_VARIABLE = "PREP_PLATFORM_PROFILE"


def _namespace(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):  # Kubernetes' own rule (RFC 1123 label)
        raise ValueError("a Kubernetes namespace: lowercase letters, digits and '-', at most 63, not starting or "
                         "ending with '-'")
    return value


class DeploymentSettingError(ValueError):
    """A PREP_PLATFORM_* deployment variable that cannot be used: one line names it and says why."""


class DeploymentSettings(BaseModel):
    model_config = SETTINGS_CONFIG

    profile: Annotated[str, one_of(*PROFILES)] = Field("local", description="local (one machine), distributed (Celery workers, PostgreSQL "
                                              "storage) or kubernetes (one pod per step)")
    shards_per_run: int = Field(4, ge=1, description="shards of work a backfill run takes (BackfillPolicy.multi_run): "
                                                     "each run loads the VAE once for them; N runs go to N GPU workers")
    celery_broker: Url = Field("redis://127.0.0.1:6379/0", description="the Celery broker URL")
    celery_backend: Url = Field("redis://127.0.0.1:6379/1", description="the Celery result backend URL")
    celery_visibility_timeout: int = Field(3600, ge=1, description="seconds before a task a dead worker held is "
                                                                  "given to another worker")
    k8s_namespace: Annotated[str, AfterValidator(_namespace)] = Field("prep-platform", description="the Kubernetes namespace step jobs run in")
    k8s_max_concurrent: int = Field(16, ge=1, description="step pods in flight at once")
    k8s_gpus: int = Field(1, ge=1, description="GPU steps in flight at once: the GPUs the cluster lends")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeploymentSettings:
        environ = os.environ if environ is None else environ
        given = env_values(cls.model_fields, environ, DEPLOYMENT_ALIASES)
        if "profile" not in given and environ.get(OLD_VARIABLE) in PROFILES:
            given["profile"] = environ[OLD_VARIABLE]
        try:
            return cls(**given)
        except ValidationError as exc:
            raise DeploymentSettingError(env_error_line(exc, given, aliases=DEPLOYMENT_ALIASES)) from None
