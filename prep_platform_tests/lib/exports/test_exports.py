"""Exports loaded back by each trainer's own rules (file names, keys, shapes, dtypes, scaling, stems), and the
wrong ones refused: a dotted stem, a pre-scaled cogvideox-factory latent, an unscaled CogVideo cache, mixed VAEs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from prep_platform.lib import pipeline
from prep_platform.lib.exports import export as export_module
from prep_platform.lib.exports.collect import ExportError, stem_for
from prep_platform.lib.exports.export import FORMATS, export_problems, read_export
from prep_platform.lib.files.latent_file import load_latent_file, write_latent_file
from prep_platform.lib.stages.training_index import TrainingIndex, read_training_index, write_training_index
from prep_platform_tests.support.prepared import SCENARIOS


def _index_rows(settings):
    layout = settings.layout()
    return [row for s in SCENARIOS for row in read_training_index(layout.training_index(s, 0))]


def _drop_first_row(index) -> None:
    """One clip fewer in a shard's training index."""
    write_training_index(index, TrainingIndex(read_training_index(index)[1:]))


def _export(settings, fmt):
    return pipeline.export_training_set(settings, settings.layout(), fmt, scenarios=list(SCENARIOS))


def test_stems_cover_the_training_index_and_are_dot_free_and_unique(settings):
    result = _export(settings, "cogvideox-factory")
    rows = _index_rows(settings)
    expected = sum(len(r["prompt_variants"]) * (1 + len(r["augmentations"])) for r in rows)
    assert result.stems == expected == len(result.export["stems"]) and expected > 0
    stems = list(result.export["stems"])
    assert all("." not in s for s in stems) and len(set(stems)) == len(stems)
    hflip = [s for s, v in result.export["stems"].items() if v["augmentation"] == "hflip"]
    assert hflip and all("__hflip" in s for s in hflip)
    assert any(v["prompt_variant"] > 0 and "__p" in s for s, v in result.export["stems"].items())
    sample = next(iter(result.export["stems"].values()))
    assert {"video_id", "scenario", "augmentation", "prompt_variant", "latent_path", "header"} <= set(sample)
    assert sample["header"]["scaling_factor"] == load_latent_file(sample["latent_path"])[0].scaling_factor
    assert stem_for("urban", "clip.v2", "hflip", 3) == "urban__clip-v2__hflip__p3"


def test_cogvideox_factory_loads_by_its_dataset_rules(settings):
    folder = _export(settings, "cogvideox-factory").folder
    assert export_problems(folder) == []
    # What VideoDataset(load_tensors=True, image_to_video=True) does with the folder.
    prompts = [l.strip() for l in (folder / "prompts.txt").read_text().splitlines() if l.strip()]
    videos = [folder / l.strip() for l in (folder / "videos.txt").read_text().splitlines() if l.strip()]
    assert len(prompts) == len(videos)
    export = read_export(folder)
    for path, prompt in zip(videos, prompts):
        stem = path.name.split(".")[0]
        latents = torch.load(path.parent.parent / "video_latents" / f"{stem}.pt", weights_only=True)
        image = torch.load(path.parent.parent / "image_latents" / f"{stem}.pt", weights_only=True)
        embeds = torch.load(path.parent.parent / "prompt_embeds" / f"{stem}.pt", weights_only=True)
        num_frames = (latents.size(1) - 1) * 4 + 1 if latents.size(1) % 2 else latents.size(1) * 4
        assert (num_frames, latents.size(2) * 8, latents.size(3) * 8) == (9, 96, 144)  # the trainer's bucket
        assert latents.shape[0] == 2 * 4 and image.shape == (8, 1, 12, 18) and embeds.shape == (226, 32)
        header, arrays = load_latent_file(export["stems"][stem]["latent_path"])
        assert torch.equal(latents[:4], torch.from_numpy(arrays["latent_mean"]))  # unscaled, not sampled
        assert torch.equal(latents[4:], torch.from_numpy(arrays["latent_logvar"]))
        # The image's moments, as cogvideox-factory's own prepare_dataset.py stores vae._encode(image): the mean and
        # the logvar the VAE gave, not a fixed floor.
        assert torch.equal(image[:4], torch.from_numpy(arrays["image_latents"]))
        assert torch.equal(image[4:], torch.from_numpy(arrays["image_logvar"])) and float(image[4:].max()) > -29
        assert prompt == export["stems"][stem]["prompt"]


def test_cogvideo_finetune_serves_from_its_cache(settings):
    folder = _export(settings, "cogvideo-finetune").folder
    assert export_problems(folder) == []
    export = read_export(folder)
    options = export["options"]
    assert options["resolution"] == "9x96x144"
    prompts = [l.strip() for l in (folder / "prompts.txt").read_text().splitlines() if l.strip()]
    videos = [folder / l.strip() for l in (folder / "videos.txt").read_text().splitlines() if l.strip()]
    images = [folder / l.strip() for l in (folder / "images.txt").read_text().splitlines() if l.strip()]
    assert len(prompts) == len(videos) == len(images) and all(p.is_file() for p in videos + images)
    for prompt, video in zip(prompts, videos):
        cache = folder / "cache" / "video_latent" / options["model_name"] / options["resolution"] / f"{video.stem}.safetensors"
        encoded = load_file(str(cache))["encoded_video"]
        embedding = load_file(str(folder / "cache" / "prompt_embeddings" / f"{hashlib.sha256(prompt.encode()).hexdigest()}.safetensors"))["prompt_embedding"]
        header, arrays = load_latent_file(export["stems"][video.stem]["latent_path"])
        assert encoded.shape == (4, 3, 12, 18) and embedding.shape == (226, 32)
        # One sample of the distribution times the header's scaling factor: near mean x factor, not the mean itself.
        scaled_mean = torch.from_numpy(arrays["latent_mean"]).float() * header.scaling_factor
        assert not torch.equal(encoded.float(), scaled_mean)
        assert (encoded.float() - scaled_mean).abs().mean() < (encoded.float() - scaled_mean / header.scaling_factor).abs().mean() + 1.0


def test_finetrainers_precomputed_files(settings):
    folder = _export(settings, "finetrainers").folder
    assert export_problems(folder) == []
    data = folder / "finetrainers-precomputed-data"
    latents = sorted(data.glob("latent-*.pt"))
    assert len(latents) == len(list(data.glob("condition-*.pt"))) == len(read_export(folder)["stems"])
    item = torch.load(data / "latent-0.pt", weights_only=True)
    condition = torch.load(data / "condition-0.pt", weights_only=True)
    assert item["latents"].shape == (1, 3, 8, 12, 18) and condition["encoder_hidden_states"].shape == (1, 226, 32)


def test_diffusers_videos_are_the_windows_and_say_they_are_lossy(settings):
    folder = _export(settings, "diffusers-videos").folder
    assert export_problems(folder) == []
    export = read_export(folder)
    assert export["lossy"] is True and "re-encode" in export["lossy_note"]
    first = folder / (folder / "videos.txt").read_text().splitlines()[0]
    with av.open(str(first)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 9 and frames[0].shape == (96, 144, 3)
    # The first frame is the conditioning image, up to the lossy re-encode.
    import cv2

    stem = first.stem
    image = cv2.cvtColor(cv2.imread(export["stems"][stem]["image_path"]), cv2.COLOR_BGR2RGB)
    assert np.abs(frames[0].astype(int) - image.astype(int)).mean() < 12


def test_wrong_exports_are_found(settings):
    folder = _export(settings, "cogvideox-factory").folder
    stem = next(iter(read_export(folder)["stems"]))
    # A pre-scaled latent.
    path = folder / "video_latents" / f"{stem}.pt"
    good = torch.load(path, weights_only=True)
    torch.save(good * 1.15258426, path)
    assert any("unscaled" in p for p in export_problems(folder))
    torch.save(good, path)
    assert export_problems(folder) == []
    # A stem with a dot: the trainer would load another file.
    lines = (folder / "videos.txt").read_text().splitlines()
    lines[0] = lines[0].replace(".mp4", ".hflip.mp4")
    (folder / "videos.txt").write_text("\n".join(lines) + "\n")
    assert any("dot" in p or "does not name" in p for p in export_problems(folder))

    finetune = _export(settings, "cogvideo-finetune").folder
    export = read_export(finetune)
    stem = next(iter(export["stems"]))
    cache = finetune / "cache" / "video_latent" / export["options"]["model_name"] / export["options"]["resolution"] / f"{stem}.safetensors"
    mean = torch.from_numpy(load_latent_file(export["stems"][stem]["latent_path"])[1]["latent_mean"])
    save_file({"encoded_video": mean}, str(cache))  # not sampled, not scaled
    assert any("scaling_factor" in p for p in export_problems(finetune))


def test_an_export_refuses_latents_of_two_vaes(settings):
    row = _index_rows(settings)[0]
    path = settings.layout().latent("urban", row["video_id"])  # the copy's file, by the layout
    header, arrays = load_latent_file(path)
    write_latent_file(path, arrays, dataclasses.replace(header, vae_fingerprint="another-vae", model_id="other/vae"))
    with pytest.raises(ExportError, match="vae_fingerprint"):
        _export(settings, "cogvideox-factory")
    # The same VAE fingerprint but another scale or model id: a trainer would scale one set of latents wrongly.
    for key, value in (("scaling_factor", 0.7), ("model_id", "other/vae")):
        write_latent_file(path, arrays, dataclasses.replace(header, **{key: value}))
        with pytest.raises(ExportError, match=key):
            _export(settings, "cogvideox-factory")


def test_an_export_needs_the_prompt_embeddings(settings):
    assert _index_rows(settings)
    settings.layout().prompt_embeds_manifest("urban", 0).unlink()
    with pytest.raises(ExportError, match="encode_prompts"):
        _export(settings, "cogvideox-factory")
    assert _export(settings, "diffusers-videos").stems > 0  # videos and captions need no embeddings


def test_a_rerun_rewrites_nothing_and_a_change_rewrites_the_export(settings):
    first = _export(settings, "cogvideox-factory")
    files = {p: p.stat().st_mtime_ns for p in first.folder.rglob("*") if p.is_file()}
    again = _export(settings, "cogvideox-factory")
    assert again.state == "unchanged"
    assert {p: p.stat().st_mtime_ns for p in first.folder.rglob("*") if p.is_file()} == files
    index = settings.layout().training_index("urban", 0)
    _drop_first_row(index)
    assert _export(settings, "cogvideox-factory").state == "written"


def test_a_failed_export_leaves_the_previous_one_whole(settings, monkeypatch):
    first = _export(settings, "cogvideox-factory")
    before = read_export(first.folder)
    module = FORMATS["cogvideox-factory"]
    real_write = module.write

    def write_then_fail(samples, folder, **kwargs):
        real_write(samples[:3], folder)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "write", write_then_fail)
    index = settings.layout().training_index("urban", 0)
    _drop_first_row(index)
    with pytest.raises(OSError):
        _export(settings, "cogvideox-factory")
    assert read_export(first.folder) == before and export_problems(first.folder) == []
    assert not list(first.folder.parent.glob(f".{first.folder.name}{export_module.PARTIAL}*"))


# --- what each trainer is launched with, and the order it reads in ---------------------------------------------

# The options each trainer's own argument parser requires (read in their source: CogVideo finetune/schemas/args.py,
# finetrainers/args.py, cogvideox-factory training/cogvideox/args.py, diffusers examples/cogvideo), beside the data
# options each needs to read our layout instead of raw videos.
REQUIRED = {
    "cogvideox-factory": ("--pretrained_model_name_or_path", "--data_root", "--caption_column", "--video_column",
                          "--load_tensors", "--frame_buckets", "--height_buckets", "--width_buckets", "--output_dir"),
    "cogvideo-finetune": ("--model_path", "--model_name", "--model_type", "--training_type", "--output_dir",
                          "--data_root", "--caption_column", "--video_column", "--image_column", "--train_resolution",
                          "--report_to", "--mixed_precision"),
    "finetrainers": ("--model_name", "--pretrained_model_name_or_path", "--training_type", "--dataset_config",
                     "--enable_precomputation", "--precomputation_reuse", "--precomputation_dir",
                     "--precomputation_items", "--output_dir"),
    "diffusers-videos": ("--pretrained_model_name_or_path", "--instance_data_root", "--caption_column",
                         "--video_column", "--height", "--width", "--max_num_frames", "--output_dir"),
}
PATH_OPTIONS = ("--data_root", "--instance_data_root", "--precomputation_dir", "--dataset_config")


def launch_options(command: str) -> dict[str, str | None]:
    import shlex

    words = shlex.split(command)
    options = {}
    for k, word in enumerate(words):
        if word.startswith("--"):
            following = words[k + 1] if k + 1 < len(words) else None
            options[word] = following if following is not None and not following.startswith("--") else None
    return options


def assert_clips_spread(folder: Path, export: dict) -> None:
    """Read back in the trainer's file order, no run of 4 consecutive samples holds two samples of one clip."""
    if export["format"] == "finetrainers":  # latent-<i> in export order
        order = list(export["stems"])
    else:
        order = [Path(line).stem for line in (folder / "videos.txt").read_text().splitlines()]
    clips = [(export["stems"][s]["scenario"], export["stems"][s]["video_id"]) for s in order]
    assert len(set(clips)) >= 8  # enough clips for the property to be possible
    for start in range(len(clips) - 3):
        run = clips[start:start + 4]
        assert len(set(run)) == 4, (start, run)


@pytest.mark.parametrize("export_format", sorted(FORMATS))
def test_every_format_prints_a_complete_launch_command_and_spreads_each_clip(settings, export_format):
    result = _export(settings, export_format)
    folder, export = result.folder, result.export
    assert export_problems(folder) == []
    assert_clips_spread(folder, export)
    command = export["launch"]["command"]
    assert export["launch_flags"] == command
    options = launch_options(command)
    assert set(REQUIRED[export_format]) <= set(options), set(REQUIRED[export_format]) - set(options)
    # Data options exactly as written (the export's own absolute path); model and output as placeholders.
    for option in PATH_OPTIONS:
        if option in options:
            assert Path(options[option]).is_absolute() and Path(options[option]).exists()
            assert str(folder) in options[option]
    assert options["--output_dir"] == "<output_dir>"
    model = options.get("--model_path") or options.get("--pretrained_model_name_or_path")
    assert model == "<model_path>" and set(export["launch"]["placeholders"]) == {"<model_path>", "<output_dir>"}
    assert export["order"]["seed"] == 0


def test_the_order_is_seeded(settings):
    from prep_platform.lib.exports.export import ExportRequest

    layout = settings.layout()
    first = list(pipeline.export_training_set(settings, layout, "cogvideox-factory").export["stems"])
    again = pipeline.export_training_set(settings, layout, "cogvideox-factory")
    assert again.state == "unchanged" and list(again.export["stems"]) == first
    other = pipeline.export_training_set(settings, layout, "cogvideox-factory", request=ExportRequest(order_seed=1))
    assert other.state == "written" and list(other.export["stems"]) != first and sorted(other.export["stems"]) == sorted(first)
    assert [Path(line).stem for line in (other.folder / "videos.txt").read_text().splitlines()] == list(other.export["stems"])


def test_spread_order_keeps_each_clip_apart_whenever_the_clips_allow(tmp_path):
    import random

    from prep_platform.lib.exports.collect import SPREAD, ExportSample, spread_order

    rng = random.Random(5)
    for case in range(40):
        sizes = [rng.randint(1, 12) for _ in range(rng.randint(2, 14))]
        samples = [ExportSample(stem=f"s{c}_{k}", scenario="urban", video_id=f"clip{c}", sample_id=f"clip{c}", split="train",
                                augmentation="none", prompt_variant=k, prompt="p", prompt_sha256="", prompt_embedding="",
                                latent_path="", image_path="", header={})
                   for c, size in enumerate(sizes) for k in range(size)]
        ordered = spread_order(samples, seed=case)
        assert sorted(s.stem for s in ordered) == sorted(s.stem for s in samples)
        most = max(sizes)
        feasible = (most - 1) * SPREAD + sizes.count(most) <= len(samples)
        clips = [s.video_id for s in ordered]
        gaps_ok = all(len(set(clips[i:i + SPREAD])) == len(clips[i:i + SPREAD]) for i in range(len(clips)))
        assert gaps_ok or not feasible, (sizes, clips)


def test_cogvideo_finetune_takes_a_registered_model_name_and_the_training_dtype(settings):
    from prep_platform.lib.exports.collect import ExportError
    from prep_platform.lib.exports.export import ExportRequest

    layout = settings.layout()
    default = pipeline.export_training_set(settings, layout, "cogvideo-finetune", scenarios=["urban"])
    options = default.export["options"]
    assert options["model_name"] == "cogvideox-i2v" and options["dtype"] == "bf16" and options["mixed_precision"] == "bf16"
    caches = list((default.folder / "cache" / "video_latent" / "cogvideox-i2v" / "9x96x144").glob("*.safetensors"))
    assert caches and all(load_file(str(c))["encoded_video"].dtype == torch.bfloat16 for c in caches[:5])
    fp32 = pipeline.export_training_set(settings, layout, "cogvideo-finetune", scenarios=["urban"],
                                        request=ExportRequest(dtype="fp32", trainer_model_name="cogvideox1.5-i2v"))
    assert fp32.state == "written" and "--mixed_precision no" in fp32.export["launch"]["command"]
    cache = fp32.folder / "cache" / "video_latent" / "cogvideox1.5-i2v" / "9x96x144"
    assert load_file(str(next(cache.glob("*.safetensors"))))["encoded_video"].dtype == torch.float32
    assert export_problems(fp32.folder) == []
    for refused in ("cogvideox-5b-i2v", "cogvideox-t2v"):
        with pytest.raises(ExportError, match="cogvideox-i2v or cogvideox1.5-i2v"):
            pipeline.export_training_set(settings, layout, "cogvideo-finetune", scenarios=["urban"],
                                         request=ExportRequest(trainer_model_name=refused))
    assert read_export(fp32.folder)["options"]["dtype"] == "fp32"  # the refused runs touched nothing
    # The model name for a CogVideoX 1.5 VAE, derived from the data.
    from prep_platform.lib.exports.cogvideo_finetune import model_name_for

    assert model_name_for({"model_id": "THUDM/CogVideoX1.5-5B-I2V"}) == "cogvideox1.5-i2v"
    assert model_name_for({"model_id": "THUDM/CogVideoX-5b-I2V"}) == "cogvideox-i2v"


def test_finetrainers_gets_a_dataset_config_that_names_the_export_and_reuse_flags(settings):
    result = _export(settings, "finetrainers")
    options = launch_options(result.export["launch"]["command"])
    assert int(options["--precomputation_items"]) == result.stems
    assert Path(options["--precomputation_dir"]) == result.folder  # <dir>/finetrainers-precomputed-data
    config = json.loads(Path(options["--dataset_config"]).read_text())
    dataset = config["datasets"][0]
    assert Path(dataset["data_root"]) == result.folder and dataset["dataset_type"] == "video"
    assert dataset["video_resolution_buckets"] == [[9, 96, 144]]
    # finetrainers' VideoFileCaptionFileListDataset: prompts.txt and videos.txt of equal length (splitlines()).
    prompts = (result.folder / "prompts.txt").read_text().splitlines()
    assert len(prompts) == len((result.folder / "videos.txt").read_text().splitlines()) == result.stems
    assert not (result.folder / "metadata.csv").exists()  # it would be read instead of the lists
