"""Pretrained models from the Hugging Face Hub, loaded so that a machine without them fails in one line, fast.

With the Hub reachable, the hub client loads as it always does (its cache, then the network). With
`HF_HUB_OFFLINE` set, or when the Hub's endpoint cannot be reached within a few seconds, a model in the local cache
is loaded from it alone, and one that is not is refused at once, naming the model, where it was looked for and the cause, instead of the libraries retrying for a minute and
then blaming the model ("does not appear to have a file named config.json"). A failure of the load itself (a gated
repo without `HF_TOKEN`, a repo that does not exist) is told the same way. ModelUnavailable is the machine's
problem: the tools exit 3 with its one line.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from prep_platform.lib.models.model_settings import HubModel

REACH_TIMEOUT_S = 3.0


class ModelUnavailable(OSError):
    """A pretrained model that cannot be loaded here (no network, offline, gated, missing): one line, exit 3."""

    environment = True  # data_prep._cli: the machine's problem, not the input's

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "model unavailable"


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def is_cached(model_id: str, revision: str, subfolder: str | None) -> bool:
    """The model's config is in the local Hugging Face cache (or `model_id` is a local folder)."""
    if os.path.isdir(model_id):
        return True
    from huggingface_hub import try_to_load_from_cache

    name = f"{subfolder}/config.json" if subfolder else "config.json"
    return isinstance(try_to_load_from_cache(model_id, name, revision=revision), str)


def unreachable(endpoint: str, timeout: float = REACH_TIMEOUT_S) -> str:
    """Why `endpoint` cannot be reached ("" when it can): a TCP connection within `timeout` seconds."""
    url = urlparse(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as exc:
        return f"{host}:{port} cannot be reached ({exc.strerror or type(exc).__name__})"


def source_options(model: HubModel) -> dict:
    """How to load a pretrained model: `{}` when the Hub can be reached (the client's cache, then the network: a
    cache holding only the model's config, as after a config read, still fetches the weights); `{"local_files_only":
    True}` for a local folder, or when the Hub cannot be used and the model is cached; ModelUnavailable at once when
    it is neither cached nor downloadable here."""
    if os.path.isdir(model.model_id):
        return {"local_files_only": True}
    cannot = "HF_HUB_OFFLINE is set" if _offline() else unreachable(_endpoint())
    if not cannot:
        return {}
    if is_cached(model.model_id, model.revision, model.subfolder):
        return {"local_files_only": True}
    where = (f"{model.what} {model.model_id} (revision {model.revision}) is not in the local Hugging Face cache "
             f"({_cache_dir()})")
    advice = f"; {model.hint}" if model.hint else ""
    if _offline():
        raise ModelUnavailable(f"{where} and HF_HUB_OFFLINE is set: download it once with network "
                               f"(huggingface-cli download {model.model_id}){advice}")
    raise ModelUnavailable(f"{where} and the Hub cannot be reached, no network? ({cannot}){advice}")


def refuse_if_unobtainable(model: HubModel | None) -> None:
    """ModelUnavailable now when `model` can be neither loaded from the cache nor downloaded: what a tool calls before
    it imports torch and the model libraries (seconds of imports, more on a loaded machine), so that a machine without
    the model is told in well under a second. None (a preset built here) always passes."""
    if model is not None:
        source_options(model)


def load_pretrained(model: HubModel, load):
    """`load(**options)` of a pretrained model: refused at once when it cannot be had here (source_options, before
    `load` imports its library), a failed load told in one line (load_failure)."""
    options = source_options(model)
    try:
        return load(**options)
    except (OSError, ValueError) as exc:
        raise load_failure(exc, model) from exc


def load_failure(exc: BaseException, model: HubModel) -> ModelUnavailable:
    """A failed from_pretrained as one line with its cause (gated, missing, not downloadable)."""
    what, model_id = model.what, model.model_id
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    cause = exc
    while cause is not None and not isinstance(cause, (GatedRepoError, RepositoryNotFoundError)):
        cause = cause.__cause__ or cause.__context__
    advice = f"; {model.hint}" if model.hint else ""
    if isinstance(cause, GatedRepoError):
        return ModelUnavailable(f"{what} {model_id} is gated: accept its terms on the Hub and set HF_TOKEN{advice}")
    if isinstance(cause, RepositoryNotFoundError):
        return ModelUnavailable(f"{what} {model_id}: no such repo on {_endpoint()} (or a private one without "
                                f"HF_TOKEN){advice}")
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelUnavailable(f"{what} {model_id} could not be loaded: {first_line}{advice}")
