"""DataLayout is the one place that maps a data root to paths: the documented tree, relocation, refusals, and no
other module of the package spelling out a data file name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from prep_platform.lib.files.atomic import beside
from prep_platform.lib.layout import (DataLayout, HubBookkeeping, SpillFolder, clip_of_latent_file, compile_cache_folders,
                                      label_embedding_part, label_embeddings_folder, latent_files, latent_in,
                                      manifest_rows_path, metadata_report_path, metadata_store_path, spill_folder_prefix,
                                      spill_folders_of_host, unpacked_label_model, variant_path)
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


def test_caches_spills_and_bookkeeping_follow_the_documented_tree(tmp_path):
    layout = DataLayout(tmp_path)
    assert (layout.cache.labels, layout.cache.models) == (tmp_path / "cache/labels", tmp_path / "cache/models")
    assert layout.compile_cache == tmp_path / "cache/torch"
    assert compile_cache_folders(layout.compile_cache) == (tmp_path / "cache/torch/inductor", tmp_path / "cache/torch/triton")
    assert label_embeddings_folder(layout.cache.labels, "abc123") == tmp_path / "cache/labels/abc123"
    assert label_embedding_part(tmp_path / "cache/labels/abc123", 7, 42) == tmp_path / "cache/labels/abc123/part-00007-42.npz"
    assert unpacked_label_model(layout.cache.models, "ab" * 32) == tmp_path / "cache/models/all-MiniLM-L6-v2-abababababab"
    for hostile in ("../x", "a/b", ".hidden"):
        with pytest.raises(UnsafeIdError):
            label_embeddings_folder(layout.cache.labels, hostile)
    assert layout.metadata_spill_root == tmp_path / "cache/metadata-build"
    spill = SpillFolder(layout.metadata_spill_root / (spill_folder_prefix("host", 12) + "x1"))
    assert spill.root == tmp_path / "cache/metadata-build/host-12-x1"
    assert spill.bucket(spill.records(0), 3) == spill.root / "scenario-0000-bucket-0003.parquet"
    assert spill.excluded == spill.root / "excluded.jsonl"
    spill.root.mkdir(parents=True)
    assert spill_folders_of_host(layout.metadata_spill_root, "host") == [(spill.root, "12")]
    assert spill_folders_of_host(layout.metadata_spill_root, "other") == []
    hub = HubBookkeeping(layout.msr_vtt.download("MSRVTT_data.json"))
    assert (hub.record, hub.part, hub.part_record) == tuple(
        tmp_path / f"raw/msr-vtt/.hub/MSRVTT_data.json{suffix}" for suffix in (".json", ".part", ".part.json"))
    assert metadata_store_path(layout.metadata_view) == layout.metadata_file
    assert manifest_rows_path(layout.frames_manifest("urban", 0)).name == "frames_manifest.parquet"
    store = tmp_path / "metadata/scenario_metadata.parquet"
    assert DataLayout.around_metadata_file(store) == DataLayout(tmp_path).relocated(metadata_file=store)
    assert beside(tmp_path / "out", ".out.partial-1") == tmp_path / ".out.partial-1"
    for name in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            beside(tmp_path / "out", name)


def test_the_search_for_moved_caches_takes_only_folders_a_scenario_could_be(tmp_path):
    layout = DataLayout(tmp_path / "data")
    profile_root = layout.latents_root / layout.profile
    for name in ("urban", "nature", "not a scenario", ".partial"):
        (profile_root / name).mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (profile_root / "linked").symlink_to(tmp_path / "elsewhere")
    assert layout.latent_scenario_folders() == [profile_root / "nature", profile_root / "urban"]
    assert latent_in(profile_root / "urban", "video7", "hflip") == layout.latent("urban", "video7", "hflip")
    for name in ("video7.npz", "video7__w2.npz", "video7__w2.hflip.npz"):
        (profile_root / "urban" / name).touch()
    assert [clip_of_latent_file(path) for path in latent_files(profile_root / "urban")] == ["video7"] * 3


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


# --- no path under the data root joined by hand -------------------------------------------------------------------
# Outside lib/layout.py, lib joins no path with a name in it: `<path> / "name"` (a string, an f-string, a module
# constant holding one, or a sum of them), `.joinpath(...)`, `os.path.join(...)`, `Path(a, "name")`, and the
# companions `.with_name(...)` / `.with_suffix(...)`. A place under the data root is a DataLayout property or method
# (or of its folder classes), or a layout function for a companion of a given file; what lies beside a target only
# while it is replaced (temp files, partial and old folders, their owner files, an unpacking folder) is named through
# lib.files.atomic.beside. What remains is listed here, each with why it is no place of the data layout.
LIB = PACKAGE / "lib"
FORMAT_INSIDE_AN_EXPORT = ("the trainer's own layout inside an export folder (the format module's business); the "
                           "export folder itself is DataLayout.export_root or the user's --output-dir, its partial "
                           "and old names and owner files go through files.atomic.beside")
ALLOWED_JOINS: dict[tuple[str, str | None], str] = {  # (module, the join as written; None: every join there) -> why
    ("lib/exports/cogvideo_finetune.py", None): FORMAT_INSIDE_AN_EXPORT + ": videos/, images/, cache/video_latent/...",
    ("lib/exports/cogvideox_factory.py", None): FORMAT_INSIDE_AN_EXPORT + ": video_latents/, image_latents/, ...",
    ("lib/exports/diffusers_videos.py", None): FORMAT_INSIDE_AN_EXPORT + ": videos/<stem>.mp4",
    ("lib/exports/finetrainers.py", None): FORMAT_INSIDE_AN_EXPORT + ": the dataset config and data/ files",
    ("lib/exports/files.py", None): FORMAT_INSIDE_AN_EXPORT + ": prompts.txt, videos.txt, images.txt",
    ("lib/exports/export.py", "Path(folder) / EXPORT_FILE"): "export.json inside an export folder: the export's own "
                                                              "record, the same in every format",
    ("lib/exports/export.py", "partial / EXPORT_FILE"): "export.json of the export being written (read back first)",
    ("lib/exports/export.py", "folder / EXPORT_FILE"): "export.json named in export_problems' messages",
    ("lib/files/atomic.py", "folder / LOCK_NAME"): "the lock inside a folder a run holds: atomic.py names what "
                                                    "exists only while a folder is written",
    ("lib/labelling/embedding.py", "target / WEIGHTS_FILE"): "a file of the label model inside its unpacked folder "
                                                                  "(unpacked_label_model): the model's format, pinned "
                                                                  "by hash",
    ("lib/labelling/labellers.py", 'Path(tempfile.gettempdir()) / "prep_platform_models"'):
        "not the data root: the system temp folder, where a labeller given no cache folder unpacks its model",
    ("lib/scenarios.py", 'resources.files("prep_platform") / "config" / "scenarios.yaml"'):
        "package data, not the data root: the scenarios file shipped with the package",
    ("lib/sources/panda70m.py", 'video.with_suffix(".json")'): "a downloaded Panda-70M clip's metadata beside it "
                                                                "in its shard: the downloader's format",
    ("lib/sources/panda70m.py", 'video.with_suffix(".txt")'): "a downloaded Panda-70M clip's caption beside it in "
                                                               "its shard: the downloader's format",
    ("lib/safe_paths.py", "root.joinpath(*parts)"): "path_inside itself: the join that checks what it joins (the "
                                                    "layout's tool)",
    ("lib/safe_paths.py", "os.path.join(current, part)"): "path_inside's link check, one component at a time",
}


def _named_strings(tree: ast.Module) -> set[str]:
    """Module-level names bound to a string constant (EXPORT_FILE = "export.json")."""
    return {target.id for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str) for target in node.targets if isinstance(target, ast.Name)}


def _is_name_text(node: ast.AST, named: set[str]) -> bool:
    """A path component written in the code: a string, an f-string, a string constant of the module, a sum."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Name):
        return node.id in named
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_name_text(node.left, named) or _is_name_text(node.right, named)
    return False


def hand_joins(source: str) -> list[tuple[int, str]]:
    """(line, the join as written) of each path joined by hand in `source` (a chain `a / "b" / "c"` once)."""
    tree = ast.parse(source)
    named = _named_strings(tree)
    inner = {id(node.left) for node in ast.walk(tree) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and id(node) not in inner:
            link, joined = node, False
            while isinstance(link, ast.BinOp) and isinstance(link.op, ast.Div):
                joined = joined or _is_name_text(link.right, named)
                link = link.left
            if joined:
                found.append((node.lineno, ast.get_source_segment(source, node)))
        elif isinstance(node, ast.Call):
            func = node.func
            attr = getattr(func, "attr", None)
            if (attr in ("joinpath", "with_name", "with_suffix", "with_stem")
                    or (attr == "join" and isinstance(func.value, ast.Attribute) and func.value.attr == "path")
                    or (isinstance(func, ast.Name) and func.id in ("Path", "PurePath") and len(node.args) > 1)):
                found.append((node.lineno, ast.get_source_segment(source, node)))
    return sorted(found)


def test_no_lib_module_but_the_layout_joins_a_path_by_hand():
    offenders, used = [], set()
    for path in sorted(LIB.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module == "lib/layout.py":
            continue
        for line, join in hand_joins(path.read_text()):
            key = next((k for k in ((module, join), (module, None)) if k in ALLOWED_JOINS), None)
            if key is None:
                offenders.append(f"{module}:{line}: {join}")
            used.add(key)
    assert offenders == [], ("paths joined by hand outside lib/layout.py (a DataLayout method, a layout function, or "
                             "files.atomic.beside names them):\n" + "\n".join(offenders))
    assert sorted(map(str, set(ALLOWED_JOINS) - used)) == [], "allowed joins no module makes any more: remove them"


def test_the_join_rule_finds_joins_and_leaves_arithmetic():
    source = '''"""Joins data/cache/labels (docstrings may say where)."""
import os
NAME = "excluded.jsonl"
a = root / "cache" / "labels"
b = spill / NAME
c = folder / f"{sample}.png"
d = os.path.join(root, "x")
e = root.joinpath("y")
f = report.with_suffix(".json")
g = Path(root, "z")
h = total / count
i = (frames - 1) / fps
j = folder / name
'''
    assert [line for line, _ in hand_joins(source)] == [4, 5, 6, 7, 8, 9, 10]
    assert hand_joins(source)[0] == (4, 'root / "cache" / "labels"')
