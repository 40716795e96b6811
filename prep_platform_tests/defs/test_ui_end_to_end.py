"""The UI end to end: `dagster dev` on a loopback port, the asset graph, checks, jobs and schedules through
GraphQL, a partition materialised through GraphQL on the sample, and the lineage page in headless Chromium.

Needs Debian's chromium (`.ci/run` installs it); skipped with the reason where it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow

EXPECTED_EDGES = {
    ("msr_vtt_raw", "scenario_metadata"),
    ("panda70m_shards", "scenario_metadata"),
    ("scenario_metadata", "clip_frames"),
    ("clip_frames", "clip_latents"),
    ("clip_latents", "training_index"),
    ("vatex_raw", "vatex_eval_prompts"),
    ("panda70m_instructions", "panda70m_subset"),
    ("panda70m_instructions", "panda70m_shards"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def _live_processes(pgid: int) -> list[str]:
    """Processes of the group that still run (zombies waiting for a reaper do not count)."""
    listing = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if line.split()[1:2] and not line.split()[1].startswith("Z")]


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path_factory.mktemp("data")
    port = _free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home), PREP_PLATFORM_DATA_ROOT=str(data), PREP_PLATFORM_MSR_VTT_SOURCE="sample",
               PREP_PLATFORM_FRAME_SIZE="144x96", PREP_PLATFORM_FRAMES="9")
    log = (home / "dev.log").open("w")
    dagster = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "dagster"
    command = [str(dagster) if dagster.exists() else "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    # Its own session: `dagster dev` started from a script ignores SIGTERM otherwise.
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                assert process.poll() is None, (home / "dev.log").read_text()[-3000:]
                assert time.time() < deadline, "dagster dev did not come up in 180 s"
                time.sleep(1)
        yield {"port": port, "data": data, "home": home}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            # It stops its daemon and code servers first: a minute was not always enough on two busy cores.
            process.wait(timeout=120)
        finally:
            # Its code servers stop after it: on two cores busy with another test file (the suite runs on two
            # workers) they took over 30 s to go, but went.
            deadline = time.time() + 90
            while _live_processes(process.pid) and time.time() < deadline:
                time.sleep(0.5)
            leftovers = _live_processes(process.pid)
            if leftovers:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()
        assert not leftovers, f"processes left after shutdown: {leftovers}"


def test_graph_checks_jobs_and_schedules_through_graphql(dagster_dev):
    port = dagster_dev["port"]
    nodes = _graphql(port, """{ assetNodes { assetKey { path } groupName dependencyKeys { path }
        assetChecksOrError { ... on AssetChecks { checks { name } } } } }""")["assetNodes"]
    names = {n["assetKey"]["path"][0] for n in nodes}
    assert {"msr_vtt_raw", "scenario_metadata", "clip_frames", "clip_latents", "vatex_raw", "vatex_eval_prompts",
            "panda70m_subset", "training_index"} <= names
    edges = {(d["path"][0], n["assetKey"]["path"][0]) for n in nodes for d in n["dependencyKeys"]}
    assert EXPECTED_EDGES <= edges
    checks = {c["name"] for n in nodes for c in n["assetChecksOrError"].get("checks", [])}
    assert {"clip_latents_files_check", "clip_frames_images_check", "scenario_metadata_schema_check",
            "storage_free_space_check", "vatex_raw_annotation_schema_check"} <= checks

    repos = _graphql(port, """{ repositoriesOrError { ... on RepositoryConnection { nodes {
        jobs { name } schedules { name scheduleState { status } } sensors { name } } } } }""")
    repo = repos["repositoriesOrError"]["nodes"][0]
    assert {"sources_job", "panda_ingest_job", "metadata_job", "latents_job", "raw_refresh_job"} <= {j["name"] for j in repo["jobs"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]}
    assert schedules == {"raw_refresh_schedule": "STOPPED", "latents_nightly_schedule": "STOPPED"}
    assert {"prep_automation_sensor", "panda70m_shards_sensor"} <= {s["name"] for s in repo["sensors"]}


def _run_to_completion(client, job: str, tags: dict | None = None, timeout: float = 420) -> str:
    from dagster import DagsterRunStatus

    run_id = client.submit_job_execution(job, repository_location_name="prep_platform", tags=tags or {})
    deadline = time.time() + timeout
    while (status := client.get_run_status(run_id)) not in (
        DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED
    ):
        assert time.time() < deadline, f"{job} still {status} after {timeout} s"
        time.sleep(2)
    assert status == DagsterRunStatus.SUCCESS, f"{job} ended {status}"
    return run_id


@pytest.fixture(scope="module")
def materialised_shard(dagster_dev):
    """The shard urban.0000 materialised through the UI's GraphQL API (the runs launched as the UI launches them),
    once for the tests that read it back."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev["port"])
    _run_to_completion(client, "sources_job")
    _run_to_completion(client, "panda_ingest_job", {"dagster/asset_partition_range_start": "00000",
                                                    "dagster/asset_partition_range_end": "00001.tar"})
    _run_to_completion(client, "metadata_job")
    _run_to_completion(client, "latents_job", {"dagster/partition": "urban.0000"})
    return "urban.0000"


def test_materialise_a_shard_partition_through_graphql_and_read_its_checks(dagster_dev, materialised_shard):
    port = dagster_dev["port"]
    data = _graphql(port, """{ assetNodes(assetKeys: [{path: ["clip_latents"]}, {path: ["clip_frames"]}]) {
        assetKey { path }
        assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }""")
    statuses = {c["name"]: c["executionForLatestMaterialization"]["status"]
                for n in data["assetNodes"] for c in n["assetChecksOrError"]["checks"]}
    assert statuses == {"clip_latents_files_check": "SUCCEEDED", "clip_frames_images_check": "SUCCEEDED",
                        "clip_frames_windows_check": "SUCCEEDED"}
    latents = dagster_dev["data"] / "prepared" / "latents" / "cogvideox" / "urban"
    assert len(list(latents.glob("*.npz"))) == 6 and (latents / "shard-0000" / "training_index.parquet").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_lineage_page_in_headless_chromium(dagster_dev, tmp_path):
    port = dagster_dev["port"]
    url = f"http://127.0.0.1:{port}/assets/clip_latents?view=lineage&lineageScope=upstream&lineageDepth=4"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1600,1000",
             "--virtual-time-budget=20000"]
    screenshot = Path(os.environ.get("PREP_PLATFORM_UI_SCREENSHOT") or tmp_path / "lineage.png")
    subprocess.run([CHROMIUM, *flags, f"--user-data-dir={tmp_path / 'profile1'}", f"--screenshot={screenshot}", url],
                   capture_output=True, timeout=120, check=True)
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    dom = subprocess.run([CHROMIUM, *flags, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for name in ("msr_vtt_raw", "scenario_metadata", "clip_frames", "clip_latents"):
        assert name in dom, f"{name} not on the lineage page"
    assert "Internal Server Error" not in dom


CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
def test_contact_sheet_renders_as_an_image_in_the_browser(dagster_dev, materialised_shard):
    # The contact sheet of clip_frames[urban.0000] is Markdown metadata with the PNG inline: the UI lists it as
    # "[Show Markdown]", and one click renders the image (a path would stay text).
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000", "--disable-background-networking"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(f"http://127.0.0.1:{dagster_dev['port']}/assets/clip_frames?view=events&partition=urban.0000")
        wait = WebDriverWait(browser, 60)
        wait.until(expected_conditions.element_to_be_clickable((By.XPATH, "//a[normalize-space(text())='[Show Markdown]']"))).click()
        image = wait.until(expected_conditions.visibility_of_element_located((By.XPATH, "//img[@alt='contact sheet of urban.0000']")))
        assert image.get_attribute("src").startswith("data:image/png;base64,")
        assert image.size["width"] >= 100 and image.size["height"] >= 50  # decoded and laid out, not a broken image
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    finally:
        browser.quit()
