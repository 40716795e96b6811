"""Exports never delete what they do not own and never publish a broken export (issue 18): folders the export did
not write are refused with nothing touched, a kill at any moment leaves nothing the next run does not clean, a
failing read-back keeps the previous export, two formats into one folder at once both end right, and a full disk
is exit 3 for every format. The tool runs in-process (run_cli, the same exit statuses) where a subprocess would
only add start-up time; the kill and the concurrent runs are real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from prep_platform.lib.files.metadata_store import write_records
from prep_platform.lib.stages.metadata import load_metadata_document, records
from prep_platform.data_prep import export_training_set
from prep_platform.data_prep._cli import run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.exports.export import FORMATS, ExportRequest, export_problems, read_export
from prep_platform.lib.files.latent_file import load_latent_file, write_latent_file
from prep_platform.lib.stages.training_index import read_training_index, write_training_index, TrainingIndex

LEFTOVER_PATTERNS = (".*.partial-*", ".*.old-*")


def run_tool(capsys, *argv: str) -> tuple[int, str, str]:
    """The export tool as a user runs it: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: export_training_set.main(list(argv)), "export_training_set")
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and mtime: "nothing touched" is an equal snapshot."""
    found = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        found[str(path)] = (stat.st_size if not path.is_dir() else 0, stat.st_mtime_ns)
    return found


def leftovers(parent: Path) -> list[Path]:
    return [p for pattern in LEFTOVER_PATTERNS for p in parent.glob(pattern)]


def test_folders_the_export_did_not_write_are_refused_with_nothing_touched(settings, tmp_path, monkeypatch, capsys):
    root = Path(settings.data_root)
    home = tmp_path / "home"
    (home / "projects").mkdir(parents=True)
    (home / "projects" / "plan.txt").write_text("mine")
    monkeypatch.setenv("HOME", str(home))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.md").write_text("do not lose this")
    a_file = tmp_path / "results.csv"
    a_file.write_text("a,b\n")
    target = tmp_path / "empty"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    cases = {
        str(notes): "holds no export.json",
        str(root): "data root",
        str(root.parent): "holds",  # the data root (and, here, the home folder)
        "~": "home folder",
        str(root / "raw" / "msr-vtt"): "raw MSR-VTT folder",
        str(root / "prepared" / "latents" / "urban" / "export"): "inside the latents folder",
        str(a_file): "is a file",
        str(link): "symbolic link",
        "/": "file system root",
    }
    before = snapshot(tmp_path)
    for output, why in cases.items():
        code, out, err = run_tool(capsys, "--data-root", str(root), "--format", "cogvideox-factory", "--output-dir", output)
        assert code == 2, (output, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and why in lines[0] and "Traceback" not in err, (output, err)
        assert out == ""
    assert snapshot(tmp_path) == before  # nothing created, renamed, hidden or deleted anywhere
    assert not leftovers(Path("/")) and not list(Path("/").glob(".prep_platform.lock"))
    # The default folder, a new one and an empty one are the export's to write.
    for output in (None, tmp_path / "new" / "export", target):
        code, out, err = run_tool(capsys, "--data-root", str(root), "--format", "cogvideox-factory",
                                  *(["--output-dir", str(output)] if output else []))
        assert code == 0, err
        folder = Path(json.loads(out)["export"])
        assert export_problems(folder) == []


def test_an_earlier_export_of_any_format_is_replaced_whole(settings):
    layout = settings.layout()
    folder = Path(settings.data_root) / "exports" / "shared"
    first = pipeline.export_training_set(settings, layout, "diffusers-videos", scenarios=["urban"], output=folder)
    second = pipeline.export_training_set(settings, layout, "cogvideox-factory", scenarios=["urban"], output=folder)
    assert first.state == second.state == "written" and read_export(folder)["format"] == "cogvideox-factory"
    assert not (folder / "videos").exists()  # nothing of the diffusers export is left mixed in
    assert export_problems(folder) == [] and not leftovers(folder.parent)


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from prep_platform.lib import pipeline
    from prep_platform.lib.exports import export as export_module
    from prep_platform.lib.exports.export import ExportRequest
    from prep_platform.lib.settings import PrepSettings

    where = sys.argv[2]
    real_rename, real_exchange = os.rename, export_module._exchange
    if where == "between-renames":  # a file system without an atomic exchange, killed after the first rename
        export_module._exchange = lambda a, b: False
        def rename(a, b):
            real_rename(a, b)
            if ".old-" in str(b):
                os.kill(os.getpid(), signal.SIGKILL)
        export_module.os.rename = rename
    else:  # killed right after the exchange, before the old export (now in the partial folder) is removed
        def exchange(a, b):
            assert real_exchange(a, b)
            os.kill(os.getpid(), signal.SIGKILL)
        export_module._exchange = exchange
    settings = PrepSettings(data_root=sys.argv[1], msr_vtt_source="sample", export_split="all")
    pipeline.export_training_set(settings, settings.layout(), "cogvideox-factory", scenarios=["urban"],
                                 request=ExportRequest(order_seed=7))
""")


@pytest.mark.parametrize("where", ["between-renames", "after-exchange"])
def test_a_killed_export_leaves_nothing_after_the_next_run(settings, where):
    layout = settings.layout()
    good = pipeline.export_training_set(settings, layout, "cogvideox-factory", scenarios=["urban"])
    done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, settings.data_root, where], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == -9, done.stderr  # killed where asked
    assert leftovers(good.folder.parent)  # what the kill left: an old copy or a partial folder
    if where == "after-exchange":
        assert read_export(good.folder)["options"]["order_seed"] == 7  # the exchange itself is one step
    again = pipeline.export_training_set(settings, layout, "cogvideox-factory", scenarios=["urban"])
    assert again.state == "written" and export_problems(again.folder) == []
    assert not leftovers(good.folder.parent)


def _good_export(settings):
    result = pipeline.export_training_set(settings, settings.layout(), "cogvideox-factory")
    assert result.state == "written"
    return result.folder, snapshot(result.folder)


def test_a_latent_with_nans_or_a_damaged_file_never_replaces_a_good_export(settings, capsys):
    folder, before = _good_export(settings)
    layout = settings.layout()
    row = read_training_index(layout.training_index("urban", 0))[0]
    path = layout.latent("urban", row["sample_id"])
    original = path.read_bytes()
    header, arrays = load_latent_file(path)
    arrays["latent_mean"][0, 0, 0, 0] = np.nan
    write_latent_file(path, arrays, header)
    # A new order seed makes the inputs differ, so the export is written (and read back) again.
    code, out, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory", "--split", "all",
                              "--order-seed", "3")
    assert code == 2 and "non-finite" in err and "was not published" in err and len(err.strip().splitlines()) == 1
    assert snapshot(folder) == before and not leftovers(folder.parent)

    damaged = bytearray(original)
    middle = len(damaged) // 2
    damaged[middle:middle + 8] = bytes(8)  # inside latent_mean: the zip's CRC no longer holds
    path.write_bytes(bytes(damaged))
    code, out, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory", "--split", "all",
                              "--order-seed", "4")
    assert code == 2 and str(path) in err and "checksum" in err and "Traceback" not in err
    assert snapshot(folder) == before and not leftovers(folder.parent)


def test_an_empty_export_never_replaces_a_good_one(settings, capsys):
    folder, before = _good_export(settings)
    code, _, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory", "--scenario", "nothere")
    assert code == 2 and "unknown scenario 'nothere': the scenarios are press_room, urban" in err
    # A real scenario with nothing prepared: nothing to export, the export that exists is kept.
    code, _, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory", "--scenario", "crowd")
    assert code == 2 and "nothing to export" in err and "is kept" in err
    assert snapshot(folder) == before and not leftovers(folder.parent)


def test_an_empty_caption_is_left_out_with_its_reason_and_the_lists_stay_paired(settings):
    layout = settings.layout()
    index_path = layout.training_index("urban", 0)
    rows = read_training_index(index_path)
    rows[0]["prompt_variants"][1] = " \t "
    write_training_index(index_path, TrainingIndex(rows))
    result = pipeline.export_training_set(settings, layout, "cogvideox-factory")
    export = result.export
    assert [item["prompt_variant"] for item in export["left_out"]] == [1] * (1 + len(rows[0]["augmentations"]))
    assert all("empty_caption" in item["reason"] for item in export["left_out"])
    prompts = (result.folder / "prompts.txt").read_text(encoding="utf-8").splitlines()
    videos = (result.folder / "videos.txt").read_text(encoding="utf-8").splitlines()
    assert len(prompts) == len(videos) == result.stems and all(p.strip() for p in prompts)
    assert all(export["stems"][Path(v).stem]["prompt"] == p for p, v in zip(prompts, videos))
    assert export_problems(result.folder) == []


def test_a_caption_with_a_line_separator_keeps_the_index_readable_and_the_lists_paired(settings):
    """A hand-edited metadata file (the metadata stage itself normalises captions) with U+2028, U+0085 and a
    control character in a prompt: the index reads back, and every line-based list pairs one prompt per stem."""
    from prep_platform.lib.models.text_encoder import TextEncoderSettings

    layout = settings.layout()
    hostile = "a man\u2028walks\u0085down a\x1bstreet\u2029at night"
    document = load_metadata_document(layout.metadata_file)
    record = next(r for split in ("train", "validation") for r in document[split] if r["scenario"] == "urban")
    record["prompt_variants"][1] = hostile
    write_records(layout.metadata_file, records(document))
    index_path = layout.training_index("urban", 0)
    rows = read_training_index(index_path)
    for row in rows:
        if row["video_id"] == record["video_id"]:
            row["prompt_variants"][1] = hostile
    write_training_index(index_path, TrainingIndex(rows))
    back = read_training_index(index_path)  # a Parquet string column: no line to be cut at U+2028
    assert len(back) == len(rows) and hostile in [p for row in back for p in row["prompt_variants"]]
    pipeline.encode_prompts(settings, layout, "urban", 0, pipeline.load_text_encoder(TextEncoderSettings(preset="tiny", batch_size=4)))
    for export_format in ("cogvideox-factory", "finetrainers"):
        result = pipeline.export_training_set(settings, layout, export_format)
        prompts = (result.folder / "prompts.txt").read_text(encoding="utf-8").splitlines()
        assert len(prompts) == result.stems == len((result.folder / "videos.txt").read_text().splitlines())
        assert "a man walks down a street at night" in prompts
        assert export_problems(result.folder) == []


CONCURRENT = textwrap.dedent("""
    import sys
    from prep_platform.data_prep import export_training_set
    from prep_platform.data_prep._cli import run_cli
    run_cli(lambda: export_training_set.main(sys.argv[1:]), "export_training_set")
""")


def test_two_formats_exported_into_one_folder_at_once_both_end_right(settings):
    folder = Path(settings.data_root) / "exports" / "both"
    runs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, "--data-root", settings.data_root, "--format", fmt,
                              "--split", "all", "--output-dir", str(folder)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for fmt in ("cogvideox-factory", "finetrainers")]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    for code, out, err in results:
        assert code == 0, err  # each one written and read back under the lock, one after the other
        assert json.loads(out)["state"] == "written"
    assert read_export(folder)["format"] in ("cogvideox-factory", "finetrainers")
    assert export_problems(folder) == [] and not leftovers(folder.parent)


def test_a_full_disk_exits_3_for_every_format_and_leaves_nothing(settings, small_disk, capsys):
    with open(small_disk / "filler", "wb") as handle:  # leaves ~24 KiB: room to start, not for an export
        try:
            handle.write(b"\0" * ((1 << 20) - (24 << 10)))
        except OSError:
            pass
    for export_format in FORMATS:
        output = small_disk / export_format
        code, out, err = run_tool(capsys, "--data-root", settings.data_root, "--format", export_format, "--split", "all",
                                  "--output-dir", str(output))
        assert code == 3, (export_format, err)
        last = err.strip().splitlines()
        assert len(last) == 1 and "No space left on device" in last[0] and str(small_disk) in last[0], (export_format, err)
        assert not output.exists() and not leftovers(small_disk), export_format


def test_an_export_request_refuses_an_unknown_dtype():
    with pytest.raises(ValueError, match="--dtype"):
        ExportRequest(dtype="fp8")


def test_an_export_takes_its_size_from_the_data_and_a_later_frames_run_does_not_leak_in(tmp_path, capsys):
    """Prepared at 240x160x17, exported with no size option (the settings' default is 720x480x49); then the
    frames alone are made again at another size: the export still pairs each latent with its own image."""
    from prep_platform_tests.support.prepared import prepare_sample_root

    root = tmp_path / "data"
    prepared = prepare_sample_root(root, scenarios=("urban",), frame_size="240x160", frames=17, augment=False)
    for run in range(2):
        code, out, err = run_tool(capsys, "--data-root", str(root), "--format", "cogvideo-finetune", "--split", "all",
                                  "--scenario", "urban")
        assert code == 0, err
        export = read_export(Path(json.loads(out)["export"]))
        folder = Path(json.loads(out)["export"])
        assert export["options"]["resolution"] == "17x160x240" and export_problems(folder) == []
        import cv2

        images = [cv2.imread(str(folder / line)) for line in (folder / "images.txt").read_text().splitlines()]
        assert images and all(image.shape[:2] == (160, 240) for image in images)
        assert "--train_resolution 17x160x240" in export["launch"]["command"]
        if run == 0:  # the frames alone at another size: a new image folder and frames manifest, the old latents
            other = prepared.with_values(frame_size="144x96", frames=9)
            pipeline.prepare_frames(other, other.layout(), "urban", 0)
            assert other.layout().image_folder("urban").is_dir()
    # An image that does not match its latent is refused, naming both.
    row = read_training_index(prepared.layout().training_index("urban", 0))[0]
    image = prepared.layout().image("urban", row["sample_id"])
    small = prepared.layout().with_frame_config(other.frame_config()).image("urban", row["sample_id"])
    image.write_bytes(small.read_bytes())
    code, out, err = run_tool(capsys, "--data-root", str(root), "--format", "cogvideo-finetune", "--split", "all",
                              "--scenario", "urban", "--order-seed", "2")
    assert code == 2 and str(image) in err and row["sample_id"] in err and "144x96" in err and "240x160" in err
