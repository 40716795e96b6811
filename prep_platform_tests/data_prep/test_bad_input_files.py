"""Every bad input file is one line naming the file and the problem, exit 2, never a traceback, as a user runs the
tools (real subprocesses): a damaged metadata store, a clip path that is a device or a FIFO (recorded, the run goes
on), a gzip bomb as annotation (refused while read, in bounded memory), a negative --limit, an --output that is a
folder or the input itself, and the label files of evaluate_labels."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from prep_platform.lib.files.metadata_store import read_records, write_records
from prep_platform.lib.sources.msr_vtt import MAX_ANNOTATION_BYTES
from prep_platform.lib.frames.stage import read_frames_manifest
from prep_platform_tests.support.cli_runs import run_module
from prep_platform_tests.support.damaged_parquet import STORE_DAMAGES, drop_column, retype_column, rewrite, small_store


def _one_error_line(result: subprocess.CompletedProcess, tool: str) -> str:
    """The single line the tool printed on stderr (exit 2), without its `<tool>: error: ` prefix."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{tool}: error: "), result.stderr
    return lines[0].removeprefix(f"{tool}: error: ")


def _frames(store: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_module("prep_platform.data_prep.preprocess_video_latents", "--metadata", str(store), "--data-root",
                      str(root / "data"), "--scenario", "urban", "--size", "144x96", "--frames", "9", "--workers", "0",
                      *extra, cwd=root)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("store"), with_clips=True)


@pytest.mark.parametrize("damage", list(STORE_DAMAGES))
def test_a_damaged_store_is_one_line_exit_2_in_the_frame_stage(store, tmp_path, damage):
    change, words = STORE_DAMAGES[damage]
    damaged = tmp_path / "scenario_metadata.parquet"
    shutil.copy(store, damaged)
    change(damaged)
    line = _one_error_line(_frames(damaged, tmp_path), "preprocess_video_latents")
    assert line.startswith(f"{damaged}: ") and words in line


@pytest.mark.parametrize("change, words", [(drop_column("caption"), "no column 'caption'"),
                                           (retype_column("shard", pa.string()), "column 'shard' is string, expected int32")],
                         ids=["caption column dropped", "shard stored as text"])
def test_a_store_without_captions_or_with_text_shards_is_one_line_exit_2_in_encode_prompts(store, tmp_path, change, words):
    damaged = tmp_path / "scenario_metadata.parquet"
    shutil.copy(store, damaged)
    rewrite(damaged, change)
    result = run_module("prep_platform.data_prep.encode_prompts", "--metadata", str(damaged), "--data-root",
                        str(tmp_path / "data"), "--text-encoder-preset", "tiny", cwd=tmp_path)
    assert _one_error_line(result, "encode_prompts") == f"{damaged}: not a scenario metadata store: {words}"


def test_a_device_or_a_fifo_as_a_video_path_is_recorded_and_the_run_goes_on(store, tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    records = read_records(store)
    records[1]["video_path"], records[2]["video_path"] = "/dev/zero", str(fifo)
    edited = tmp_path / "scenario_metadata.parquet"
    write_records(edited, records)
    result = _frames(edited, tmp_path)  # a hang (it was > 240 s) fails on the helper's timeout
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    [view] = (tmp_path / "data").rglob("urban/shard-0000/frames_manifest.json")
    manifest = read_frames_manifest(view)
    rows = {row["video_id"]: row for row in manifest["clips"]}
    assert rows["video0"]["status"] == "ok"
    assert rows["video1"]["status"] == rows["video2"]["status"] == "not_a_file"
    assert rows["video1"]["reason"] == "/dev/zero: a character device, not a regular file: refused without opening it"
    assert rows["video2"]["reason"].startswith(f"{fifo}: a FIFO (named pipe), not a regular file")


# --- label_captions ---------------------------------------------------------------------------------------------


def _gzip_bomb(path: Path, inflated: int = 1 << 30) -> None:
    """A ~1 MB .json.gz that inflates to `inflated` bytes: the start of an annotation, then spaces, written member
    by member (a gzip file may hold several; readers inflate them in turn) so writing it takes no time or memory."""
    spaces = gzip.compress(b" " * (16 << 20), compresslevel=9, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(b'{"videos": [], "sentences": [], "info": "', mtime=0))
        for _ in range(inflated // (16 << 20)):
            out.write(spaces)
        out.write(gzip.compress(b'"}', mtime=0))


# Runs the command as its only child and writes that child's peak resident memory (KiB on Linux) to argv[1]: the
# wrapper's RUSAGE_CHILDREN is then the tool's alone (the test process's would hold every earlier child's too).
_MEASURE = ("import pathlib, resource, subprocess, sys; done = subprocess.run(sys.argv[2:]); "
            "pathlib.Path(sys.argv[1]).write_text(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
            "sys.exit(done.returncode)")


def _run_measured(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """The tool's run (`python -m <args>`) and its peak resident memory in bytes."""
    peak = cwd / "peak_rss_kib"
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(peak), sys.executable, "-m", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    return result, int(peak.read_text()) * 1024


def test_a_gzip_bomb_annotation_is_refused_while_read_in_bounded_memory(tmp_path):
    bomb = tmp_path / "MSRVTT_data.json.gz"
    _gzip_bomb(bomb)
    assert bomb.stat().st_size < 2 << 20
    result, peak = _run_measured(["prep_platform.data_prep.label_captions", "--annotation", str(bomb), "--output",
                                  str(tmp_path / "labels.jsonl"), "--data-root", str(tmp_path / "data"),
                                  "--labeller", "keywords"], tmp_path)
    line = _one_error_line(result, "label_captions")
    bound = MAX_ANNOTATION_BYTES >> 20
    assert line == f"{bomb}: decompresses to more than {bound} MiB (an annotation may hold at most {bound} MiB): refused"
    assert peak < 300 << 20, f"peak memory {peak >> 20} MiB"  # it was 2.2 GB
    assert not (tmp_path / "labels.jsonl").exists()
    shown = " ".join(run_module("prep_platform.data_prep.label_captions", "--help", cwd=tmp_path).stdout.split())
    assert f"at most {bound} MiB once decompressed" in shown


def test_label_captions_refuses_a_negative_limit_and_an_output_it_must_not_write(tmp_path):
    annotation = tmp_path / "MSRVTT_data.json"
    annotation.write_text('{"videos": [], "sentences": []}\n')
    before = annotation.read_bytes()
    link = tmp_path / "labels.jsonl"
    link.symlink_to(annotation)

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_module("prep_platform.data_prep.label_captions", "--data-root", str(tmp_path / "data"), *args,
                          cwd=tmp_path)

    negative = run("--annotation", str(annotation), "--output", str(tmp_path / "out.jsonl"), "--limit", "-1")
    # A slice by -1 dropped the last clip, silently. (An argument error: argparse's usage may come before the line.)
    assert negative.returncode == 2 and "Traceback" not in negative.stderr
    assert negative.stderr.strip().splitlines()[-1] == "label_captions: error: argument --limit: -1 is negative: give 0 or more"
    assert not (tmp_path / "out.jsonl").exists()
    folder = run("--annotation", str(annotation), "--output", str(tmp_path))  # was exit 3, a failed write
    assert _one_error_line(folder, "label_captions").startswith(f"--output {tmp_path}: a folder")
    for output in (annotation, link):  # the annotation itself, by its name or through a link
        assert _one_error_line(run("--annotation", str(annotation), "--output", str(output)), "label_captions") \
            == f"--output {output}: is the annotation (--annotation {annotation}); the labels never replace their input"
    assert annotation.read_bytes() == before and link.is_symlink()


# --- evaluate_labels --------------------------------------------------------------------------------------------


def _evaluate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_module("prep_platform.data_prep.evaluate_labels", *args, cwd=tmp_path)


def test_evaluate_labels_refuses_a_folder_a_deep_line_and_two_labels_for_a_clip(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"video_id": "video1", "label": "urban"}\n{"video_id": "video2", "label": "none"}\n')
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"video_id": "video1", "label": "urban"}\n\n{"video_id": "video1", "label": "crowd"}\n')

    def error(reference: Path) -> str:
        return _one_error_line(_evaluate(tmp_path, "--reference", str(reference), "--predicted", str(labels)),
                               "evaluate_labels")

    assert error(tmp_path) == f"{tmp_path}: a folder, not a file"  # was an IsADirectoryError traceback
    assert error(deep) == f"{deep}: line 1 is not JSON (nested too deeply)"  # was a RecursionError traceback
    assert error(twice) == (f"{twice}: line 3: a second label for clip 'video1' (the first is on line 1); "
                            f"give each clip one row")  # the last one was taken, silently


def test_evaluate_labels_only_takes_a_file_of_ids_as_its_help_says(tmp_path):
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps({"video_id": f"video{n}", "label": "urban"}) + "\n" for n in range(4)))
    predicted = tmp_path / "predicted.jsonl"
    predicted.write_text("".join(json.dumps({"video_id": f"video{n}", "label": "urban" if n else "crowd"}) + "\n"
                                 for n in range(4)))
    only = tmp_path / "only.jsonl"
    only.write_text('"video0"\n{"video_id": "video1"}\nvideo2\n')  # ids only: a JSON string, an object, a bare id
    result = _evaluate(tmp_path, "--reference", str(reference), "--predicted", str(predicted), "--only", str(only))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["clips"] == 3 and figures["accuracy"] == round(2 / 3, 4)
    only.write_text('"video0"\n[1, 2]\n')
    assert _one_error_line(_evaluate(tmp_path, "--reference", str(reference), "--predicted", str(predicted), "--only",
                                     str(only)), "evaluate_labels").startswith(f"{only}: line 2 is not a video_id")
