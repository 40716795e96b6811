"""build_scenario_metadata as a user runs it, after download_msr_vtt from the loopback Hub; a bad scenarios file is one
line."""

from __future__ import annotations

import json
from prep_platform_tests.conftest import SAMPLE_REPO
from prep_platform_tests.support.cli_runs import run_module


def test_download_then_build_metadata_from_the_command_line(loopback_hub, tmp_path):
    download = run_module(
        "prep_platform.data_prep.download_msr_vtt", "--output-dir", "data/raw/msr-vtt", "--limit", "1500",
        "--repo-id", SAMPLE_REPO, cwd=tmp_path,
    )
    assert download.returncode == 0, download.stderr
    summary = json.loads(download.stdout)
    assert summary["counts"]["ok"] >= 20 and summary["counts"]["truncated"] == 1
    assert "extract + probe" in download.stderr and "video24: missing" in download.stderr  # progress and failures shown
    assert any(entry.path.endswith("MSRVTT_Videos.zip") for entry in loopback_hub.log)  # HF_ENDPOINT honoured

    build = run_module(
        "prep_platform.data_prep.build_scenario_metadata", "--msr-vtt", "data/raw/msr-vtt",
        "--output", "data/metadata/scenario_metadata.json", "--limit", "1500", "--validation-ratio", "0.1", cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    document = json.loads((tmp_path / "data/metadata/scenario_metadata.json").read_text())
    record = document["train"][0]
    # The seed's schema: before any frame stage, the paths the layout plans, said to be not built yet.
    assert list(record)[:6] == ["video_path", "image_path", "caption", "prompt_variants", "scenario", "latent_path"]
    assert record["latent_path"] == f"data/prepared/latents/cogvideox/{record['scenario']}/{record['video_id']}.npz"
    assert record["image_path"].startswith(f"data/prepared/images/{record['scenario']}/cogvideox_720x480_49f_8fps_")
    assert record["built"] == {"image_path": False, "latent_path": False}
    assert (tmp_path / record["video_path"]).exists()
    assert (tmp_path / "data/metadata/scenario_metadata.parquet").is_file()  # the store beside the view the seed names


def test_bad_scenarios_file_fails_with_a_message_not_a_traceback(msr_vtt_raw_dir, tmp_path):
    scenarios = tmp_path / "my_scenarios.yaml"
    scenarios.write_text("scenarios:\n  urban:\n    keywords: [city]\n    colour: blue\n")
    output = tmp_path / "out.json"
    result = run_module(
        "prep_platform.data_prep.build_scenario_metadata", "--msr-vtt", str(msr_vtt_raw_dir),
        "--scenarios", str(scenarios), "--output", str(output), cwd=tmp_path,
    )
    assert result.returncode == 2
    assert str(scenarios) in result.stderr and "scenarios.urban.colour" in result.stderr and "unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()
