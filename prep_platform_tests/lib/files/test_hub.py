"""The real huggingface_hub client against the loopback Hub: full download, resume, clear errors."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from prep_platform.lib.files.hub import HubDownloadError, download_hub_file
from prep_platform.lib.sources.msr_vtt import MsrVttSourceConfig, download_msr_vtt
from prep_platform_tests.conftest import SAMPLE_REPO
from prep_platform_tests.support.hub_server import Fault

ARCHIVE = "MSRVTT_Videos.zip"
BIG = "big.bin"
BIG_REPO = "sample-org/big"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_download_through_hub_matches_local_source(loopback_hub, sample_release, tmp_path):
    hub_result = download_msr_vtt(
        tmp_path / "hub", config=MsrVttSourceConfig(source="hub", repo_id=SAMPLE_REPO), limit=None
    )
    local_result = download_msr_vtt(
        tmp_path / "local", config=MsrVttSourceConfig(source=str(sample_release)), limit=None
    )
    assert _sha(tmp_path / "hub" / ARCHIVE) == _sha(sample_release / ARCHIVE)
    assert hub_result.counts == local_result.counts
    assert hub_result.counts["ok"] >= 20
    provenance = hub_result.report["provenance"]
    assert provenance["source"] == "hub" and provenance["endpoint"] == loopback_hub.endpoint
    assert provenance["commit"] == "0123456789abcdef0123456789abcdef01234567"
    # Every extracted clip is byte-identical to the archive's.
    for name in ("video0.mp4", "video5.mp4"):
        assert _sha(tmp_path / "hub" / "train-video" / name) == _sha(tmp_path / "local" / "train-video" / name)


def test_second_run_downloads_and_extracts_nothing(loopback_hub, tmp_path):
    config = MsrVttSourceConfig(source="hub", repo_id=SAMPLE_REPO)
    first = download_msr_vtt(tmp_path, config=config, limit=None)
    gets_after_first = len([e for e in loopback_hub.log if e.method == "GET"])
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "train-video").iterdir()}

    second = download_msr_vtt(tmp_path, config=config, limit=None)

    assert len([e for e in loopback_hub.log if e.method == "GET"]) == gets_after_first
    assert first.report["extracted"] > 0
    assert second.report["extracted"] == 0
    assert second.report["already_extracted"] == first.report["extracted"]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "train-video").iterdir()} == mtimes
    assert all(not f["downloaded"] for f in second.report["provenance"]["files"])


@pytest.fixture
def big_file_repo(loopback_hub, tmp_path_factory):
    """A 24 MiB file: huggingface_hub streams in 10 MiB chunks, so a drop at 60% leaves a chunk to resume from."""
    repo = tmp_path_factory.mktemp("bigrepo")
    (repo / BIG).write_bytes(random.Random(7).randbytes(24 << 20))
    loopback_hub.repos[BIG_REPO] = repo
    return repo


def test_connection_dropped_halfway_ends_byte_identical(loopback_hub, sample_release, tmp_path):
    size = (sample_release / ARCHIVE).stat().st_size
    loopback_hub.faults[ARCHIVE] = Fault(after_bytes=size // 2)

    record = download_msr_vtt(tmp_path, config=MsrVttSourceConfig(source="hub", repo_id=SAMPLE_REPO), limit=None)

    assert _sha(tmp_path / ARCHIVE) == _sha(sample_release / ARCHIVE)
    assert len(loopback_hub.gets(ARCHIVE)) == 2  # the dropped GET and the retry
    assert record.counts["ok"] >= 20


def test_large_file_dropped_halfway_resumes_with_a_range_request(big_file_repo, loopback_hub, tmp_path):
    size = (big_file_repo / BIG).stat().st_size
    loopback_hub.faults[BIG] = Fault(after_bytes=size * 6 // 10)

    record = download_hub_file(BIG_REPO, BIG, tmp_path / BIG)

    assert _sha(tmp_path / BIG) == _sha(big_file_repo / BIG)
    first, retry = loopback_hub.gets(BIG)
    resumed_at = int(retry.range.removeprefix("bytes=").rstrip("-"))
    assert first.range is None and 0 < resumed_at <= size * 6 // 10
    assert record.downloaded and record.size == size


def test_interrupted_run_resumes_in_the_next_run_byte_identical(big_file_repo, loopback_hub, tmp_path):
    size = (big_file_repo / BIG).stat().st_size
    # The connection drops at 60% and the endpoint then stays down: the first run fails, keeping what it got.
    loopback_hub.faults[BIG] = Fault(after_bytes=size * 6 // 10, then_unavailable=True)
    with pytest.raises(HubDownloadError, match=rf"(?s)interrupted after \d+ of {size} bytes.*resume"):
        download_hub_file(BIG_REPO, BIG, tmp_path / BIG)
    assert not (tmp_path / BIG).exists()  # nothing half-written at the final path
    kept = (tmp_path / ".hub" / f"{BIG}.part").stat().st_size
    assert 0 < kept < size

    loopback_hub.unavailable.clear()
    record = download_hub_file(BIG_REPO, BIG, tmp_path / BIG)

    assert record.resumed_from == kept
    assert loopback_hub.gets(BIG)[-1].range == f"bytes={kept}-"
    assert _sha(tmp_path / BIG) == _sha(big_file_repo / BIG)
    assert not list((tmp_path / ".hub").glob("*.part"))


def test_corrupt_partial_file_is_detected_and_discarded(big_file_repo, loopback_hub, tmp_path):
    size = (big_file_repo / BIG).stat().st_size
    loopback_hub.faults[BIG] = Fault(after_bytes=size * 6 // 10, then_unavailable=True)
    with pytest.raises(HubDownloadError):
        download_hub_file(BIG_REPO, BIG, tmp_path / BIG)
    part = tmp_path / ".hub" / f"{BIG}.part"
    part.write_bytes(b"\0" * part.stat().st_size)  # same length, wrong bytes
    loopback_hub.unavailable.clear()

    with pytest.raises(HubDownloadError, match="corrupt.*does not match the ETag"):
        download_hub_file(BIG_REPO, BIG, tmp_path / BIG)
    assert not part.exists() and not (tmp_path / BIG).exists()
    download_hub_file(BIG_REPO, BIG, tmp_path / BIG)  # starts over cleanly
    assert _sha(tmp_path / BIG) == _sha(big_file_repo / BIG)


def test_missing_repo_gives_a_clear_error(loopback_hub, tmp_path):
    with pytest.raises(HubDownloadError) as error:
        download_msr_vtt(tmp_path, config=MsrVttSourceConfig(source="hub", repo_id="nobody/no-such-repo"))
    message = str(error.value)
    assert "'nobody/no-such-repo'" in message and "does not exist" in message and "HF_TOKEN" in message
    assert loopback_hub.endpoint in message


def test_missing_file_gives_a_clear_error(loopback_hub, tmp_path):
    config = MsrVttSourceConfig(source="hub", repo_id=SAMPLE_REPO, videos_archive="videos/all.zip")
    with pytest.raises(HubDownloadError, match=r"has no file 'videos/all.zip'"):
        download_msr_vtt(tmp_path, config=config)


def test_missing_revision_gives_a_clear_error(loopback_hub, tmp_path):
    with pytest.raises(HubDownloadError, match=r"revision 'v9' does not exist"):
        download_hub_file(SAMPLE_REPO, ARCHIVE, tmp_path / ARCHIVE, revision="v9")


def test_unreachable_endpoint_uses_a_complete_earlier_download(loopback_hub, tmp_path):
    first = download_hub_file(SAMPLE_REPO, ARCHIVE, tmp_path / ARCHIVE)
    loopback_hub.stop()
    again = download_hub_file(SAMPLE_REPO, ARCHIVE, tmp_path / ARCHIVE)
    assert again.offline and not again.downloaded and again.etag == first.etag


def test_unreachable_endpoint_without_a_copy_fails_clearly(tmp_path):
    with pytest.raises(HubDownloadError, match=r"cannot download 'MSRVTT_Videos.zip'.*127\.0\.0\.1:9"):
        download_hub_file(SAMPLE_REPO, ARCHIVE, tmp_path / ARCHIVE, endpoint="http://127.0.0.1:9")


def test_hf_token_is_sent(loopback_hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_123")
    download_hub_file(SAMPLE_REPO, "raw_data/category.txt", tmp_path / "category.txt")
    assert all(entry.authorization == "Bearer hf_test_token_123" for entry in loopback_hub.log)
