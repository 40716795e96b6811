"""Per-file failures never abort a run, the machine's failures exit non-zero with one clear line, a killed run
leaves nothing behind, two runs on one folder do not race, and credentials are never written: each case from
the hardening review (issue 9), run for real (real clips, real processes, a real full disk where we are root)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import psutil
import pytest

from prep_platform.lib.files.atomic import WriteError, folder_lock, write_json_atomic
from prep_platform.lib.video.frame_config import FrameConfig
from prep_platform.lib.sources.msr_vtt import MsrVttSourceConfig, download_msr_vtt
from prep_platform.lib.sources.panda70m import ingest_panda_shards, parse_panda_csv, select_subset
from prep_platform.lib.stages.frames import run_frame_stage
from prep_platform.samples.panda70m import generate_panda_sample
from prep_platform.lib.scenarios import ScenarioConfigError, ScenarioLabeller, load_scenarios
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.layout import DataLayout

CLI = [sys.executable, "-m"]
LABELLER = ScenarioLabeller(load_scenarios())


# --- 3. Panda-70M shard ingest survives any one bad file ------------------------------------------------------


def test_every_kind_of_broken_shard_file_becomes_that_clips_status(tmp_path):
    panda = generate_panda_sample(tmp_path / "panda")
    shard = panda / "shards" / "00003"
    shard.mkdir(parents=True)
    good_clip = next((panda / "shards" / "00000").glob("*.mp4"))
    cases = {
        "000030000": ("dangling", "missing"),
        "000030001": ("not_json", "bad_metadata"),
        "000030002": ("json_list", "bad_metadata"),
        "000030003": ("utf16_caption", "bad_caption"),
        "000030004": ("latin1_caption", "bad_caption"),
        "000030005": ("link_outside", "unsafe_path"),
    }
    outside = tmp_path / "outside.mp4"
    shutil.copyfile(good_clip, outside)
    for stem, (kind, _) in cases.items():
        video = shard / f"{stem}.mp4"
        if kind == "dangling":
            video.symlink_to(shard / "removed_since.mp4")  # inside the shard folder, but gone
        elif kind == "link_outside":
            video.symlink_to(outside)
        else:
            shutil.copyfile(good_clip, video)
        caption = "a car drives on the highway\n"
        if kind == "not_json":
            video.with_suffix(".json").write_text("{not json")
        elif kind == "json_list":
            video.with_suffix(".json").write_text('["a", "list"]')
        if kind == "utf16_caption":
            video.with_suffix(".txt").write_bytes(caption.encode("utf-16"))
        elif kind == "latin1_caption":
            video.with_suffix(".txt").write_bytes("un café sur la route\n".encode("latin-1"))
        else:
            video.with_suffix(".txt").write_text(caption)

    summary = ingest_panda_shards(panda)  # before the fix: FileNotFoundError, JSONDecodeError, AttributeError, ...
    failed = {Path(f["reason"].split(":")[0]).stem: f for f in summary["failed"]}
    for stem, (kind, status) in cases.items():
        assert failed[stem]["status"] == status, kind
        assert str(shard / stem) in failed[stem]["reason"], kind  # the file is named
    assert summary["counts"]["ok"] == 4  # the sample's four good clips went on
    rows = (panda / "ingested" / "00003.csv").read_text().splitlines()
    assert len(rows) == 1 + len(cases)  # the shard's own manifest: one row per clip, failed ones included


# --- 4. Panda-70M CSV ----------------------------------------------------------------------------------------------


def test_non_finite_matching_scores_are_filtered_with_a_reason(tmp_path):
    header = "videoID,url,timestamp,caption,matching_score,desirable_filtering,shot_boundary_detection\n"
    caption = "a car drives down the highway past a truck"
    # 'nan' (a string float() accepts), 1e999 (a literal that is inf), and an ordinary score.
    rows = [f'v{i},u,"[[\'0:00:01.000\', \'0:00:09.000\']]","[\'{caption}\']","[{score}]","[\'desirable\']",[]\n'
            for i, score in enumerate(["'nan'", "1e999", "0.5"])]
    path = tmp_path / "p.csv"
    path.write_text(header + "".join(rows))
    clips, errors, _ = parse_panda_csv(path)
    assert errors == [] and len(clips) == 3
    result = select_subset(clips, LABELLER, scenarios=("transport",), total=10)
    assert [c.video_id for c, _ in result.selected] == ["v2"]  # inf would have ranked first, nan passed the threshold
    assert result.filtered["non_finite_matching_score"] == 2


def test_a_row_over_the_field_limit_does_not_shift_the_next_rows_line(tmp_path):
    import csv

    header = "videoID,url,timestamp,caption,matching_score,desirable_filtering,shot_boundary_detection\n"
    ok = "v{n},u,\"[['0:00:01.000', '0:00:09.000']]\",\"['a car']\",[0.5],\"['desirable']\",[]\n"
    huge = "big,u,\"[['0:00:01.000', '0:00:09.000']]\",\"['" + "x" * (csv.field_size_limit() + 10) + "']\",[0.5],\"['desirable']\",[]\n"
    bad_next = "v9,u,not a list,\"['a car']\",[0.5],\"['desirable']\",[]\n"
    path = tmp_path / "p.csv"
    path.write_text(header + ok.format(n=1) + huge + bad_next + ok.format(n=2))
    clips, errors, _ = parse_panda_csv(path)
    assert [(e["line"], e["videoID"]) for e in errors] == [(3, ""), (4, "v9")]
    assert [(c.video_id, c.line) for c in clips] == [("v1", 2), ("v2", 5)]


# --- 5. Scenarios YAML ---------------------------------------------------------------------------------------------


def test_a_scenario_defined_twice_is_an_error_naming_both_places(tmp_path):
    path = tmp_path / "scenarios.yaml"
    path.write_text("scenarios:\n  urban:\n    keywords: [street]\n  nature:\n    keywords: [tree]\n  urban:\n    keywords: [city]\n")
    with pytest.raises(ScenarioConfigError) as error:
        load_scenarios(path)
    message = str(error.value)
    assert str(path) in message and "'urban'" in message and "line 2" in message and "line 6" in message


def test_a_bad_scenarios_setting_is_one_line_from_the_main_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  urban: {keywords: [street]}\n  urban: {keywords: [city]}\n")
    env = {**os.environ, "PREP_PLATFORM_SCENARIOS": str(bad), "DAGSTER_HOME": str(tmp_path / "home")}
    done = subprocess.run(CLI + ["prep_platform.main_job", "--data-root", str(tmp_path / "data")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "PREP_PLATFORM_SCENARIOS" in lines[0] and "defined twice" in lines[0] and "Traceback" not in lines[0]


def test_a_bad_scenarios_setting_fails_dg_check_defs_with_its_reason_first_and_unchained(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  urban: {keywords: [street]}\n  urban: {keywords: [city]}\n")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(Path(sys.executable).parent / "dg"), "check", "defs"], cwd=repo, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PREP_PLATFORM_SCENARIOS": str(bad)})
    output = done.stdout + done.stderr
    assert done.returncode != 0
    # The first line of the error is the whole story; no chained exception, nothing from inside PyYAML or pydantic.
    error_lines = [line for line in output.splitlines() if "ScenariosSettingError:" in line]
    assert len(error_lines) == 1 and f"PREP_PLATFORM_SCENARIOS={bad}" in error_lines[0]
    assert "'urban' is defined twice: at line 2" in error_lines[0] and "line 3" in error_lines[0]
    assert "During handling" not in output and "was caused by" not in output and "yaml/" not in output


# --- 7. exit status, disk full, killed runs ------------------------------------------------------------------------


def _metadata_file(tmp_path: Path, clips: int, seconds: float = 3.0) -> Path:
    records = []
    (tmp_path / "clips").mkdir(exist_ok=True)
    for n in range(clips):
        clip = tmp_path / "clips" / f"video{n}.mp4"
        write_clip(clip, width=160, height=120, fps=Fraction(24), seconds=seconds, seed=n, textured=True)
        records.append({"video_id": f"video{n}", "scenario": "urban", "split": "train", "video_path": str(clip),
                        "image_path": "", "latent_path": "", "caption": "a street", "prompt_variants": ["a street"]})
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({"train": records, "validation": []}))
    return path


def _preprocess(metadata: Path, out: Path, *extra: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
               str(out / "latents"), "--size", "144x96", "--frames", "9", "--workers", "0", "--scenario", "urban", *extra],
        capture_output=True, text=True, timeout=timeout,
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe goes: nothing listens there


@pytest.mark.parametrize("network", ["HF_HUB_OFFLINE", "unreachable"])
@pytest.mark.parametrize("tool", ["encode_prompts", "preprocess_video_latents"])
def test_a_pretrained_model_that_cannot_be_fetched_exits_3_in_one_line_within_seconds(tmp_path, tool, network):
    """Offline (HF_HUB_OFFLINE) or with the Hub out of reach, a tool asked for the pretrained model fails at once:
    one line naming the model, the cache it looked in and the cause, exit 3; no minute of retries, no traceback."""
    metadata = _metadata_file(tmp_path, 1)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "PREP_PLATFORM_DATA_ROOT": str(tmp_path / "data")}
    env.pop("HF_HUB_OFFLINE", None)
    if network == "HF_HUB_OFFLINE":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    if tool == "encode_prompts":
        command = CLI + ["prep_platform.data_prep.encode_prompts", "--metadata", str(metadata), "--output-dir",
                         str(tmp_path / "prompts"), "--text-encoder-preset", "default", "--scenario", "urban"]
    else:
        command = CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
                         str(tmp_path / "latents"), "--size", "144x96", "--frames", "9", "--workers", "0",
                         "--scenario", "urban", "--encode-latents", "--vae-preset", "default"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr[-3000:]
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(errors) == 1, errors
    line = errors[0]
    assert "THUDM/CogVideoX-5b-I2V" in line and str(tmp_path / "hf") in line and "preset tiny" in line
    assert ("HF_HUB_OFFLINE is set" in line) if network == "HF_HUB_OFFLINE" else ("cannot be reached" in line)


def test_a_full_disk_exits_3_naming_what_could_not_be_written(tmp_path, small_disk):
    metadata = _metadata_file(tmp_path, 2)
    # Fill the disk so not even the frames manifest fits.
    with open(small_disk / "filler", "wb") as handle:
        try:
            handle.write(b"\0" * (2 << 20))
        except OSError:
            pass
    done = _preprocess(metadata, small_disk, "--encode-latents", "--vae-preset", "tiny")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "No space left on device" in last and str(small_disk) in last


def test_write_failures_of_clips_exit_3_and_input_failures_exit_0(tmp_path, small_disk):
    metadata = _metadata_file(tmp_path, 3, seconds=4.0)
    records = json.loads(metadata.read_text())
    bad = tmp_path / "clips" / "truncated.mp4"
    bad.write_bytes(Path(records["train"][0]["video_path"]).read_bytes()[:3000])
    records["train"].append({**records["train"][0], "video_id": "truncated", "video_path": str(bad)})
    metadata.write_text(json.dumps(records))

    # Input problem only (a truncated clip): recorded, exit 0.
    done = _preprocess(metadata, tmp_path / "roomy")
    assert done.returncode == 0, done.stderr

    # The latents do not fit: write failed is the machine's problem, exit 3 with the reason.
    images = tmp_path / "images"  # images fit elsewhere; the caches go to the small disk
    with open(small_disk / "filler", "wb") as handle:  # leaves ~64 KiB: room for manifests, not for caches
        handle.write(b"\0" * (1024 * 1024 - 64 * 1024))
    done = _preprocess(metadata, small_disk, "--images-dir", str(images), "--frames-dir", str(tmp_path / "frames"),
                       "--encode-latents", "--vae-preset", "tiny", "--augment")
    assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
    assert "for a reason of the machine" in done.stderr and "write failed" in done.stderr


def test_clips_that_do_not_fit_on_the_disk_are_write_failed_and_exit_3(sample_release, small_disk, tmp_path):
    with open(small_disk / "filler", "wb") as handle:  # leaves ~320 KiB: a few clips fit
        handle.write(b"\0" * (1024 * 1024 - 320 * 1024))
    # The clips folder is on the small disk, the manifest and report on a roomy one (as with a mounted clips volume).
    out = tmp_path / "msr-vtt"
    out.mkdir()
    (small_disk / "clips").mkdir()
    (out / "train-video").symlink_to(small_disk / "clips")
    done = subprocess.run(CLI + ["prep_platform.data_prep.download_msr_vtt", "--source", str(sample_release),
                                 "--output-dir", str(out), "--limit", "0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    counts = json.loads(done.stdout)["counts"]
    assert counts["ok"] >= 1 and counts["write_failed"] >= 1  # what fitted is kept, the rest says why
    assert "No space left on device" in done.stderr


def test_an_error_caused_by_a_full_disk_is_the_machines(tmp_path):
    import errno

    from prep_platform.data_prep._cli import is_environment_error
    from prep_platform.lib.files.hub import HubDownloadError

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise HubDownloadError("download interrupted after 10 of 20 bytes") from exc
    except HubDownloadError as wrapped:
        assert is_environment_error(wrapped)
    assert not is_environment_error(HubDownloadError("the repository does not exist"))
    assert not is_environment_error(FileNotFoundError(errno.ENOENT, "no such metadata file"))


def test_a_killed_writes_temp_files_are_removed_by_the_next_run(tmp_path):
    folder = tmp_path / "latents" / "urban"
    folder.mkdir(parents=True)
    leftover = folder / ".video0.npz.k2j3h4.tmp"  # what kill -9 during write_latent_file leaves
    leftover.write_bytes(b"partial")
    unrelated = folder / "notes.txt"
    unrelated.write_text("mine")
    with folder_lock([folder]) as removed:
        assert removed == [leftover]
    assert not leftover.exists() and unrelated.exists()


def test_a_write_error_names_the_file_and_leaves_the_old_content(tmp_path, small_disk):
    target = small_disk / "manifest.json"
    write_json_atomic(target, {"old": True})
    with pytest.raises(WriteError) as error:
        write_json_atomic(target, {"big": "x" * (2 << 20)})
    assert str(target) in str(error.value) and "No space left on device" in str(error.value)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in small_disk.iterdir()] == ["manifest.json"]  # no temp file left


def test_worker_processes_die_with_a_killed_run(tmp_path):
    metadata = _metadata_file(tmp_path, 6, seconds=6.0)
    process = subprocess.Popen(
        CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
               str(tmp_path / "latents"), "--size", "144x96", "--frames", "9", "--workers", "2", "--encode-latents",
               "--vae-preset", "tiny"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(process.pid)
    descendants: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(descendants) < 3 and process.poll() is None:
        descendants = parent.children(recursive=True)  # forkserver, its workers, the resource tracker
        time.sleep(0.1)
    assert len(descendants) >= 3, "the run never started its worker processes"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert not alive, [(p.pid, p.cmdline()[:3]) for p in alive]


# --- 8. two runs on one folder -------------------------------------------------------------------------------------


def test_a_second_run_waits_for_the_first_and_then_skips_its_work(tmp_path):
    metadata = _metadata_file(tmp_path, 3)
    latents = tmp_path / "out" / "latents" / "urban"
    runs = [subprocess.Popen(
        CLI + ["prep_platform.data_prep.preprocess_video_latents", "--metadata", str(metadata), "--output-dir",
               str(tmp_path / "out" / "latents"), "--size", "144x96", "--frames", "9", "--workers", "0",
               "--encode-latents", "--vae-preset", "tiny"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [o[1][-1000:] for o in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    encoded = sum(s["urban.0000"]["latents"].get("encoded", 0) for s in summaries)
    skipped = sum(s["urban.0000"]["latents"].get("skipped", 0) for s in summaries)
    assert (encoded, skipped) == (3, 3)  # each clip encoded once, by whichever run got the folder first
    assert any("in use by another run" in err for _, err in outputs)
    assert len(list(latents.glob("*.npz"))) == 3


# --- 9. credentials in HF_ENDPOINT ----------------------------------------------------------------------------------


def test_endpoint_credentials_are_never_written(loopback_hub, tmp_path, monkeypatch):
    secret_endpoint = loopback_hub.endpoint.replace("http://", "http://alice:s3cr3t-pw@")
    monkeypatch.setenv("HF_ENDPOINT", secret_endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_tokenThatMustNotLeak")
    out = tmp_path / "msr-vtt"
    download_msr_vtt(out, config=MsrVttSourceConfig(source="hub", repo_id="sample-org/MSR-VTT"), limit=3)
    written = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".json", ".csv")]
    assert any(p.parent.name == ".hub" for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        assert "s3cr3t-pw" not in text and "alice" not in text and "hf_tokenThatMustNotLeak" not in text, path
    report = json.loads((out / "download_report.json").read_text())
    assert report["provenance"]["endpoint"] == loopback_hub.endpoint


# --- 11. the main job's failure summary -----------------------------------------------------------------------------


def test_a_failed_main_job_prints_one_line_per_failed_step_and_exits_non_zero(tmp_path):
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "DAGSTER_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "0"}
    env.pop("PREP_PLATFORM_SCENARIOS", None)
    done = subprocess.run(CLI + ["prep_platform.main_job", "--source", "hub", "--data-root", str(tmp_path / "data")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Traceback" not in output and len(output.splitlines()) < 40, output
    failed = [line for line in output.splitlines() if "FAILED:" in line]
    assert len(failed) == 1 and "step msr_vtt_raw FAILED: HubDownloadError: cannot download" in failed[0]
    assert "127.0.0.1:9" in failed[0]
    assert output.strip().splitlines()[-1].startswith("FAILURE")


# --- 13. images per frame configuration -------------------------------------------------------------------------------


def test_a_run_with_another_frame_size_never_overwrites_the_images_of_the_first(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, seconds=3.0)
    records = [{"video_id": "video1", "scenario": "urban", "video_path": str(clip)}]
    roots = {"images_root": tmp_path / "images", "latents_root": tmp_path / "latents"}
    first = run_frame_stage(records, DataLayout(tmp_path, FrameConfig(width=240, height=160, frames=9)).relocated(**roots), workers=0)
    image = Path(first.clips[0]["image_path"])
    before = (image.read_bytes(), image.stat().st_mtime_ns)
    second = run_frame_stage(records, DataLayout(tmp_path, FrameConfig(width=360, height=240, frames=9)).relocated(**roots), workers=0)
    other = Path(second.clips[0]["image_path"])
    assert other != image and other.exists()
    assert (image.read_bytes(), image.stat().st_mtime_ns) == before


# --- 14. what a new user sees at start-up and in --help ------------------------------------------------------------


def test_loading_the_definitions_prints_no_preview_warning():
    done = subprocess.run([sys.executable, "-W", "always", "-c", "import prep_platform.definitions"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "PreviewWarning" not in done.stderr and "partitions_def on an AssetCheckSpec" not in done.stderr


@pytest.mark.parametrize("tool", ["download_msr_vtt", "download_vatex", "download_panda70m", "build_scenario_metadata",
                                  "preprocess_video_latents"])
def test_help_shows_every_default_and_the_exit_statuses(tool):
    from importlib import import_module

    parser = import_module(f"prep_platform.data_prep.{tool}").build_parser()
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            formatted = parser._get_formatter()._expand_help(action) if action.help else ""
            assert "default" in formatted.lower(), f"{tool} {action.option_strings[0]}: {formatted!r}"
    flat = " ".join(text.split())
    assert "exit status: 0 done" in flat and "; 3 some clips failed for a reason of the machine" in flat
    if tool == "preprocess_video_latents":
        for preset in ("default", "low_memory", "tiny", "random_full"):
            assert f"{preset}:" in text, preset


def test_a_live_writers_temp_file_is_left_alone_by_another_run(tmp_path):
    """A stage writes its manifest after letting go of the folder's lock; a second run that takes the lock then
    cleans only the temp files of writers that are gone (this raced under load: ENOENT at the manifest's rename)."""
    folder = tmp_path / "latents" / "urban"
    folder.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = folder / f".latents_manifest.json.{sleeper.pid}-ab12cd.tmp"
        live.write_bytes(b"being written")
        dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True).stdout.strip()
        dead = folder / f".video1.npz.{dead_pid}-ef34gh.tmp"
        dead.write_bytes(b"left by a killed run")
        with folder_lock([folder]) as removed:
            assert removed == [dead]
        assert live.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
