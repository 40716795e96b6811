"""preprocess_video_latents as a user runs it: the machine's failures exit 3 with one line, the clips' own failures are
recorded and exit 0, and two runs on one folder do not race."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from prep_platform_tests.support.cli_runs import CLI, metadata_file_of_clips, run_preprocess


def test_a_full_disk_exits_3_naming_what_could_not_be_written(tmp_path, small_disk):
    metadata = metadata_file_of_clips(tmp_path, 2)
    # Fill the disk so not even the frames manifest fits.
    with open(small_disk / "filler", "wb") as handle:
        try:
            handle.write(b"\0" * (2 << 20))
        except OSError:
            pass
    done = run_preprocess(metadata, small_disk, "--encode-latents", "--vae-preset", "tiny")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "No space left on device" in last and str(small_disk) in last


def test_write_failures_of_clips_exit_3_and_input_failures_exit_0(tmp_path, small_disk):
    metadata = metadata_file_of_clips(tmp_path, 3, seconds=4.0)
    records = json.loads(metadata.read_text())
    bad = tmp_path / "clips" / "truncated.mp4"
    bad.write_bytes(Path(records["train"][0]["video_path"]).read_bytes()[:3000])
    records["train"].append({**records["train"][0], "video_id": "truncated", "video_path": str(bad)})
    metadata.write_text(json.dumps(records))

    # Input problem only (a truncated clip): recorded, exit 0.
    done = run_preprocess(metadata, tmp_path / "roomy")
    assert done.returncode == 0, done.stderr

    # The latents do not fit: write failed is the machine's problem, exit 3 with the reason.
    images = tmp_path / "images"  # images fit elsewhere; the caches go to the small disk
    with open(small_disk / "filler", "wb") as handle:  # leaves ~64 KiB: room for manifests, not for caches
        handle.write(b"\0" * (1024 * 1024 - 64 * 1024))
    done = run_preprocess(metadata, small_disk, "--images-dir", str(images), "--frames-dir", str(tmp_path / "frames"),
                       "--encode-latents", "--vae-preset", "tiny", "--augment")
    assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
    assert "for a reason of the machine" in done.stderr and "write failed" in done.stderr


def test_a_second_run_waits_for_the_first_and_then_skips_its_work(tmp_path):
    metadata = metadata_file_of_clips(tmp_path, 3)
    latents = tmp_path / "out" / "latents" / "cogvideox" / "urban"
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
