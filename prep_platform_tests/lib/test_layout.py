"""DataLayout is the one place that maps a data root to paths: the documented tree, relocation, refusals, and no
other module of the package spelling out a data file name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from prep_platform.lib.layout import DataLayout, metadata_report_path, variant_path
from prep_platform.lib.safe_paths import UnsafeIdError
from prep_platform.lib.frame_config import FrameConfig

PACKAGE = Path(__file__).resolve().parents[2] / "prep_platform"


def test_every_path_of_a_clip_follows_the_documented_tree(tmp_path):
    config = FrameConfig(width=240, height=160, frames=9)
    layout = DataLayout(tmp_path, config)
    assert layout.msr_vtt.clip("video7") == tmp_path / "raw/msr-vtt/train-video/video7.mp4"
    assert layout.msr_vtt.manifest == tmp_path / "raw/msr-vtt/manifest.csv"
    assert layout.vatex.video("abc_000001_000011") == tmp_path / "raw/vatex/videos/abc_000001_000011.mp4"
    assert layout.panda.ingested_manifest("00001.tar") == tmp_path / "raw/panda70m/ingested/00001.tar.csv"
    assert layout.panda.ingest_report("00000") == tmp_path / "raw/panda70m/ingested/00000.report.json"
    assert layout.metadata_file == tmp_path / "metadata/scenario_metadata.parquet"
    assert layout.metadata_view == tmp_path / "metadata/scenario_metadata.json"
    assert layout.metadata_report == tmp_path / "metadata/scenario_metadata.report.json"
    assert layout.image("urban", "video7") == tmp_path / f"prepared/images/urban/{config.tag}/video7.png"
    assert layout.latent("urban", "video7") == tmp_path / "prepared/latents/cogvideox/urban/video7.npz"
    assert layout.latent("urban", "video7", "hflip") == tmp_path / "prepared/latents/cogvideox/urban/video7.hflip.npz"
    assert layout.frames_manifest("urban", 0) == tmp_path / "prepared/frames/cogvideox/urban/shard-0000/frames_manifest.json"
    assert layout.latents_manifest("urban", 0) == tmp_path / "prepared/latents/cogvideox/urban/shard-0000/latents_manifest.json"
    assert layout.training_index("urban", 0) == tmp_path / "prepared/latents/cogvideox/urban/shard-0000/training_index.parquet"
    assert layout.eval.prompts == tmp_path / "eval/vatex/vatex_eval_prompts.json"
    assert layout.export_root("cogvideox-factory") == tmp_path / "exports/cogvideox-factory"
    # Another frame configuration, another image folder; latents are told apart by their headers.
    other = layout.with_frame_config(FrameConfig(width=720, height=480, frames=49))
    assert other.image("urban", "video7") != layout.image("urban", "video7")


def test_relocation_moves_only_what_is_named(tmp_path):
    layout = DataLayout(tmp_path / "data").relocated(metadata_file=tmp_path / "m.json", msr_vtt=tmp_path / "mv")
    assert layout.metadata_file == tmp_path / "m.json" and layout.metadata_report == tmp_path / "m.report.json"
    assert layout.msr_vtt.manifest == tmp_path / "mv/manifest.csv"
    assert layout.latents_root == tmp_path / "data/prepared/latents"
    moved = DataLayout(tmp_path / "data").with_latents_root(tmp_path / "cache/latents")
    assert (moved.frames_root, moved.images_root) == (tmp_path / "cache/frames", tmp_path / "cache/images")
    assert DataLayout(tmp_path).with_latents_root(None) == DataLayout(tmp_path)


@pytest.mark.parametrize("video_id", ["../x", "/abs", "a/b", "..", "x" * 200, "a\x00b", "a\u2215b"])
def test_hostile_ids_and_scenarios_are_refused(tmp_path, video_id):
    layout = DataLayout(tmp_path)
    for place in (lambda: layout.image("urban", video_id), lambda: layout.latent("urban", video_id),
                  lambda: layout.latent(video_id, "ok"), lambda: layout.frames_manifest(video_id, 0),
                  lambda: layout.msr_vtt.clip(video_id)):
        with pytest.raises(UnsafeIdError):
            place()


def test_a_symlinked_scenario_folder_that_leaves_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    layout = DataLayout(tmp_path / "data")
    (layout.latents_root / layout.profile).mkdir(parents=True)
    (layout.latents_root / layout.profile / "urban").symlink_to(outside)
    with pytest.raises(UnsafeIdError):
        layout.latent("urban", "video1")


def test_helpers_name_companion_files():
    assert metadata_report_path("a/b/meta.json") == Path("a/b/meta.report.json")
    assert variant_path("x/video7.npz", "none") == Path("x/video7.npz")
    assert variant_path("x/video7.npz", "hflip") == Path("x/video7.hflip.npz")


# The file and folder names of the data layout. Outside layout.py (and the sample generators, which build the
# Hub repos' own layouts), none of them may appear as a string: nothing else builds a data path by hand.
LAYOUT_NAMES = ("manifest.csv", "frames_manifest.json", "latents_manifest.json", "training_index.parquet",
                "scenario_metadata.parquet", "download_report.json", "vatex_manifest.json", "ingested",
                "panda70m_subset.csv", "vatex_eval_prompts.json", "contact_sheet.png", "train-video", "prepared")


def _code_strings(path: Path):
    """(line, text) of every string constant in the module's code: docstrings and help texts aside."""
    tree = ast.parse(path.read_text())
    prose = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            prose.add(id(body[0].value))
        if isinstance(node, ast.keyword) and node.arg in ("help", "description"):
            prose.update(id(n) for n in ast.walk(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            yield node.lineno, node.value


def test_no_module_but_the_layout_spells_out_a_data_path():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "lib/layout.py" or relative.startswith(("samples/", "benchmarks/")):
            continue
        for line, text in _code_strings(path):
            for name in LAYOUT_NAMES:
                if re.search(rf"(^|/){re.escape(name)}($|/)", text):
                    offenders.append(f"{relative}:{line}: {text!r}")
    assert offenders == []


def test_the_path_rule_finds_a_path_built_by_hand(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Writes data/prepared/x (docstrings may say where)."""\nPATH = root / "prepared" / "latents"\n')
    assert {text for _, text in _code_strings(module)} == {"prepared", "latents"}
