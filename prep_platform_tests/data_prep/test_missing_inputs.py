"""A missing input is one line saying "not found" and naming it, exit 2: never read as empty, never "nothing to
export" or a file missing inside it."""

from __future__ import annotations

import pytest

from prep_platform_tests.support.cli_runs import run_module


@pytest.mark.parametrize("tool, args, line", [
    # Was "/nope/MSRVTT_data.json: cannot read the annotation file: [Errno 2] ...".
    ("build_scenario_metadata", ["--msr-vtt", "{tmp}/nope"],
     "build_scenario_metadata: error: argument --msr-vtt: {tmp}/nope: not found (the folder download_msr_vtt writes)"),
    # Was read as a folder without ingested shards: nothing labelled from it, exit 0.
    ("build_scenario_metadata", ["--panda-dir", "{tmp}/nope"],
     "build_scenario_metadata: error: argument --panda-dir: {tmp}/nope: not found (a Panda-70M folder)"),
    # Was "nothing to export: no sample of the chosen scenarios ...".
    ("export_training_set", ["--format", "finetrainers", "--latents-dir", "{tmp}/nope"],
     "export_training_set: error: argument --latents-dir: {tmp}/nope: not found (latent caches)"),
    ("export_training_set", ["--format", "finetrainers", "--prompt-embeds-dir", "{tmp}/nope"],
     "export_training_set: error: argument --prompt-embeds-dir: {tmp}/nope: not found (prompt embeddings)"),
    ("download_msr_vtt", ["--source", "{tmp}/nope"],
     "download_msr_vtt: error: --source '{tmp}/nope': not found (a folder laid out like the Hub repo; or 'hub', 'sample')"),
    ("download_vatex", ["--source", "{tmp}/nope"],
     "download_vatex: error: --source '{tmp}/nope': not found (a folder laid out like a VATEX repo; or 'hub', 'sample')"),
    # Were "[Errno 2] No such file or directory: ..." (the file named, the problem in the OS's words).
    ("label_captions", ["--annotation", "{tmp}/MSRVTT_data.json", "--output", "{tmp}/labels.jsonl"],
     "label_captions: error: {tmp}/MSRVTT_data.json: cannot read the annotation file: not found"),
    ("evaluate_labels", ["--reference", "{tmp}/hand.jsonl", "--predicted", "{tmp}/labels.jsonl"],
     "evaluate_labels: error: {tmp}/hand.jsonl: not found"),
    ("build_scenario_metadata", ["--scenarios", "{tmp}/my.yaml"],
     "build_scenario_metadata: error: {tmp}/my.yaml: cannot read the scenarios file: not found"),
    # Was the Parquet reader's "[Errno 2] Failed to open local file ...".
    ("preprocess_video_latents", [],
     "preprocess_video_latents: error: {tmp}/data/metadata/scenario_metadata.parquet: no scenario metadata yet; build "
     "it first (scenario_metadata)"),
])
def test_a_missing_input_is_not_found_naming_it(tmp_path, tool, args, line):
    root = [] if tool == "evaluate_labels" else ["--data-root", str(tmp_path / "data")]  # it reads no data root
    done = run_module(f"prep_platform.data_prep.{tool}", *root, *[arg.format(tmp=tmp_path) for arg in args], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.replace("\r", "\n").strip().splitlines() == [line.format(tmp=tmp_path)]
