"""Resumable downloads of single files from a Hugging Face Hub repo (or any endpoint speaking its protocol).

huggingface_hub resumes a dropped connection within one call but discards the partial file when the process
dies. For a multi-GB archive that is not good enough, so the partial file is kept here (`.hub/<name>.part`,
with the ETag it belongs to) and the next run continues it with a Range request through huggingface_hub's
own `http_get`. A finished file is recorded with its ETag and commit; a later run with the same remote ETag
downloads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers

from prep_platform.lib.files.atomic import write_json_atomic
from prep_platform.lib.layout import HubBookkeeping


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level errors of whichever HTTP client this huggingface_hub uses (httpx2 on 2.x, httpx on 1.x)."""
    errors: list[type[BaseException]] = [HfHubHTTPError, OSError]
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        errors.append(module.HTTPError)
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()


class HubDownloadError(RuntimeError):
    """A download failed; the message says which repo, file and endpoint, and what to check."""


class HubFileNotFoundError(HubDownloadError):
    """The repo exists but has no such file (a mirror that lacks a clip, a wrong file name)."""


@dataclass
class DownloadRecord:
    repo_id: str
    repo_type: str
    filename: str
    revision: str
    endpoint: str
    commit: str | None
    etag: str | None
    size: int
    path: str
    downloaded: bool  # False when the local copy was already current
    resumed_from: int = 0  # bytes reused from an earlier interrupted run
    offline: bool = False  # True when the endpoint was unreachable and a complete local copy was used

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_endpoint(endpoint: str | None = None) -> str:
    """Explicit endpoint, else HF_ENDPOINT read now (not at import time), else the public Hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def redact_endpoint(url: str) -> str:
    """The URL without `user:password@`: HF_ENDPOINT may carry credentials for a private mirror, and what is
    recorded (reports, bookkeeping, error messages, logs) must never hold them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _scrub(error: object, endpoint: str) -> str:
    """An error's text with the endpoint's credentials removed (HTTP clients quote the URL they failed on)."""
    text = str(error)
    userinfo = urlsplit(endpoint).netloc.rpartition("@")[0]
    return text.replace(userinfo + "@", "") if userinfo else text


def resolve_token(token: str | None = None) -> str | None:
    """Explicit token, else HF_TOKEN; None lets huggingface_hub fall back to a `hf auth login` token."""
    return token or os.environ.get("HF_TOKEN") or None


def _verify_content(path: Path, etag: str | None) -> str | None:
    """Check the file against its ETag where the ETag is a content hash; return a problem or None.

    The Hub's ETag is the sha256 of the content for LFS files and the git blob sha1 for small files.
    """
    if not etag:
        return None
    if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag):
        digest = hashlib.sha256()
        prefix = b""
    elif len(etag) == 40 and all(c in "0123456789abcdef" for c in etag):
        digest = hashlib.sha1()
        prefix = f"blob {path.stat().st_size}\0".encode()
    else:
        return None  # an opaque ETag: only the size can be checked
    digest.update(prefix)
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    actual = digest.hexdigest()
    return None if actual == etag else f"content hash {actual} does not match the ETag {etag}"


def _describe(repo_id: str, repo_type: str, filename: str, revision: str, endpoint: str) -> str:
    return f"{filename!r} from {repo_type} repo {repo_id!r} at revision {revision!r} on {endpoint}"


def download_hub_file(
    repo_id: str,
    filename: str,
    dest: Path | str,
    *,
    repo_type: str = "dataset",
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
) -> DownloadRecord:
    """Download one file to `dest`, resuming an interrupted earlier run and skipping a current local copy."""
    dest = Path(dest)
    endpoint = resolve_endpoint(endpoint)
    token = resolve_token(token)
    what = _describe(repo_id, repo_type, filename, revision, redact_endpoint(endpoint))
    bookkeeping = HubBookkeeping(dest)  # `.hub/` beside dest
    record_path, part_path, part_record_path = bookkeeping.record, bookkeeping.part, bookkeeping.part_record
    previous = json.loads(record_path.read_text()) if record_path.exists() else None

    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except RepositoryNotFoundError as exc:
        raise HubDownloadError(
            f"cannot download {what}: the repository does not exist, or it is private or gated and HF_TOKEN is "
            f"not set or lacks access. Check --repo-id."
        ) from exc
    except RevisionNotFoundError as exc:
        raise HubDownloadError(f"cannot download {what}: revision {revision!r} does not exist.") from exc
    except EntryNotFoundError as exc:
        raise HubFileNotFoundError(f"cannot download {what}: the repository has no file {filename!r}.") from exc
    except GatedRepoError as exc:
        raise HubDownloadError(f"cannot download {what}: the repository is gated; accept its terms and set HF_TOKEN.") from exc
    except TRANSPORT_ERRORS as exc:
        if previous and dest.exists() and dest.stat().st_size == previous["size"]:
            # Offline or the endpoint is down: a complete earlier download is still a valid input.
            return DownloadRecord(**{**previous, "downloaded": False, "resumed_from": 0, "offline": True})
        raise HubDownloadError(f"cannot download {what}: {type(exc).__name__}: {_scrub(exc, endpoint)}") from exc

    etag, size = metadata.etag, metadata.size
    if previous and dest.exists() and previous.get("etag") == etag and dest.stat().st_size == (size or previous["size"]):
        return DownloadRecord(**{**previous, "downloaded": False, "resumed_from": 0, "offline": False})

    bookkeeping.folder.mkdir(parents=True, exist_ok=True)
    resume_from = 0
    if part_path.exists() and part_record_path.exists():
        part_record = json.loads(part_record_path.read_text())
        if part_record.get("etag") == etag and size is not None and part_path.stat().st_size <= size:
            resume_from = part_path.stat().st_size
    if resume_from == 0:
        part_path.write_bytes(b"")
        write_json_atomic(part_record_path, {"etag": etag, "size": size, "url": redact_endpoint(url)})

    headers = build_hf_headers(token=token)
    try:
        with part_path.open("ab") as handle:
            http_get(
                metadata.location,
                handle,
                resume_size=resume_from,
                headers=headers,
                expected_size=size,
                displayed_filename=Path(filename).name,
            )
    except TRANSPORT_ERRORS as exc:
        kept = part_path.stat().st_size if part_path.exists() else 0
        raise HubDownloadError(
            f"download of {what} was interrupted after {kept} of {size} bytes: {_scrub(exc, endpoint)}. "
            f"Run again to resume from byte {kept}."
        ) from exc

    problem = _verify_content(part_path, etag)
    if problem:
        part_path.unlink(missing_ok=True)
        part_record_path.unlink(missing_ok=True)
        raise HubDownloadError(f"downloaded {what} is corrupt: {problem}; the partial file was removed, run again.")

    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part_path, dest)
    part_record_path.unlink(missing_ok=True)
    record = DownloadRecord(
        repo_id=repo_id,
        repo_type=repo_type,
        filename=filename,
        revision=revision,
        endpoint=redact_endpoint(endpoint),
        commit=metadata.commit_hash,
        etag=etag,
        size=dest.stat().st_size,
        path=str(dest),
        downloaded=True,
        resumed_from=resume_from,
    )
    write_json_atomic(record_path, record.as_dict())
    return record
