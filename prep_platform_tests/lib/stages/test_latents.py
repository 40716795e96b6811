"""Latent stage with the real AutoencoderKLCogVideoX class (tiny config) on real H.264 clips."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import pytest

from prep_platform.lib.files.atomic import LOCK_NAME

from prep_platform.lib.source_files import file_fingerprint
from prep_platform.lib.layout import DataLayout, variant_path
from prep_platform.lib.frame_config import FrameConfig
from prep_platform.lib.frames.read import read_window
from prep_platform.lib.files.latent_file import latent_file_problems, latent_shape, load_latent_file
from prep_platform.lib.stages.latents import LatentItem, run_latent_stage
from prep_platform.samples.synthetic_clips import write_clip
from prep_platform.lib.models.vae import TINY_CONFIG, VaeEncoder, VaeSettings

CONFIG = FrameConfig(width=144, height=96, frames=9, fps=8.0)
SHAPE = latent_shape(9, 96, 144, TINY_CONFIG["latent_channels"])  # (4, 3, 12, 18)


@pytest.fixture(scope="module")
def encoder() -> VaeEncoder:
    return VaeEncoder(VaeSettings(preset="tiny", batch_size=2))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for i, (fps, size) in enumerate([(Fraction(30), (320, 240)), (Fraction(25), (322, 242)), (Fraction(15), (240, 320))]):
        path = folder / f"video{i}.mp4"
        write_clip(path, width=size[0], height=size[1], fps=fps, seconds=2.0, textured=True, seed=i)
        paths.append(path)
    return paths


def _items(clips: list[Path], root: Path, scenario: str = "urban") -> list[LatentItem]:
    layout = DataLayout(root, CONFIG).relocated(latents_root=root)  # root/<profile>/<scenario>/<id>.npz
    return [LatentItem(p.stem, str(p), layout.latent(scenario, p.stem), file_fingerprint(p), scenario) for p in clips]


def _run(items, encoder, root, **kwargs):
    kwargs.setdefault("workers", 0)
    return run_latent_stage(items, DataLayout(root, CONFIG).relocated(latents_root=root), encoder, **kwargs)


def test_cache_files_have_the_documented_shapes_dtype_and_header(clips, encoder, tmp_path):
    result = _run(_items(clips, tmp_path), encoder, tmp_path)
    assert result.counts == {"encoded": 3}
    header, arrays = load_latent_file(tmp_path / "cogvideox" / "urban" / "video1.npz")
    assert arrays["latent_mean"].shape == SHAPE and arrays["latent_logvar"].shape == SHAPE
    assert arrays["image_latents"].shape == (SHAPE[0], 1, SHAPE[2], SHAPE[3])
    assert all(a.dtype == np.float16 for a in arrays.values())
    assert header.image_latents["noise_augmented"] is False
    assert header.model_id == "tiny-random-cogvideox-vae(seed=0)" and header.encode_dtype == "float32"
    assert header.scaling_factor == pytest.approx(1.15258426) and header.invert_scale_latents is False
    assert (header.frames, header.fps, header.width, header.height) == (9, 8.0, 144, 96)
    assert header.source_fingerprint == file_fingerprint(clips[1]) and header.config_fingerprint
    assert header.crop_box == pytest.approx([0.0, 13.667, 322.0, 228.333]) and header.package_version
    assert latent_file_problems(tmp_path / "cogvideox" / "urban" / "video1.npz", expect={"frames": 9, "shape": SHAPE}) == []
    # No temp files left: only caches and the folder's lock (kept: unlinking a lock another run waits on races).
    assert not [p for p in (tmp_path / "cogvideox" / "urban").iterdir() if p.suffix != ".npz" and p.name != LOCK_NAME]


def test_worker_processes_give_the_same_latents_as_in_process(clips, encoder, tmp_path):
    _run(_items(clips, tmp_path / "a"), encoder, tmp_path / "a", workers=0)
    _run(_items(clips, tmp_path / "b"), encoder, tmp_path / "b", workers=2, prefetch=2)
    for clip in clips:
        _, a = load_latent_file(tmp_path / "a" / "cogvideox" / "urban" / f"{clip.stem}.npz")
        _, b = load_latent_file(tmp_path / "b" / "cogvideox" / "urban" / f"{clip.stem}.npz")
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_second_run_skips_current_caches_and_re_encodes_only_stale_ones(clips, encoder, tmp_path):
    work = [tmp_path / p.name for p in clips]
    for src, dst in zip(clips, work):
        dst.write_bytes(src.read_bytes())
    _run(_items(work, tmp_path), encoder, tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cogvideox" / "urban").iterdir()}

    again = _run(_items(work, tmp_path), encoder, tmp_path)
    assert again.counts == {"skipped": 3} and again.encoded_clips == 0
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cogvideox" / "urban").iterdir()} == mtimes

    write_clip(work[0], seconds=2.0, textured=True, seed=99)  # the source changed
    stale = _run(_items(work, tmp_path), encoder, tmp_path)
    assert stale.counts == {"encoded": 1, "skipped": 2}
    assert [r["video_id"] for r in stale.clips if r["status"] == "encoded"] == ["video0"]

    other_config = FrameConfig(width=144, height=96, frames=9, fps=6.0)
    other = run_latent_stage(_items(work, tmp_path), DataLayout(tmp_path, other_config).relocated(latents_root=tmp_path),
                             encoder, workers=0)
    assert other.counts == {"encoded": 3}  # a different frame config invalidates every cache


def test_relabelled_clip_is_moved_not_re_encoded(clips, encoder, tmp_path):
    _run(_items(clips, tmp_path, "urban"), encoder, tmp_path, augment=True)
    moved = _run(_items(clips[:1], tmp_path, "crowd"), encoder, tmp_path, augment=True)
    assert moved.counts == {"moved": 2} and moved.encoded_clips == 0
    assert (tmp_path / "cogvideox" / "crowd" / "video0.npz").exists() and (tmp_path / "cogvideox" / "crowd" / "video0.hflip.npz").exists()
    assert not (tmp_path / "cogvideox" / "urban" / "video0.npz").exists()
    # Until urban runs again, its folder's remaining files are orphans of a crowd-only run: reported, kept.
    urban_run = _run(_items(clips[1:], tmp_path, "urban"), encoder, tmp_path)
    assert urban_run.orphaned == [str(tmp_path / "cogvideox" / "urban" / f"video{i}.hflip.npz") for i in (1, 2)]


def test_augment_writes_a_flipped_variant_recorded_as_such(clips, encoder, tmp_path):
    result = _run(_items(clips[:1], tmp_path), encoder, tmp_path, augment=True)
    assert result.counts == {"encoded": 2}
    base_header, base = load_latent_file(tmp_path / "cogvideox" / "urban" / "video0.npz")
    flip_header, flip = load_latent_file(variant_path(tmp_path / "cogvideox" / "urban" / "video0.npz", "hflip"))
    assert (base_header.augmentation, flip_header.augmentation) == ("none", "hflip")
    assert base_header.config_fingerprint != flip_header.config_fingerprint
    assert not np.array_equal(base["latent_mean"], flip["latent_mean"])


class _FailingEncoder:
    """The real encoder, but the n-th call fails (as an out-of-memory error would) or returns zeros."""

    def __init__(self, real: VaeEncoder, fail_on: int, mode: str):
        self.real, self.fail_on, self.mode, self.calls = real, fail_on, mode, 0
        self.settings, self.device = real.settings, real.device

    def __getattr__(self, name):  # batch planning, loading, run facts: the real encoder's
        return getattr(self.real, name)

    def identity(self):
        return self.real.identity()

    def identity_fingerprint(self):
        return self.real.identity_fingerprint()

    def encode(self, windows):
        self.calls += 1
        out = self.real.encode(windows)
        if self.calls == self.fail_on:
            if self.mode == "raise":
                raise RuntimeError("CUDA out of memory (simulated)")
            return {k: np.zeros_like(v) for k, v in out.items()}
        return out


def test_zero_latents_are_never_written(clips, encoder, tmp_path):
    single = VaeEncoder.__new__(VaeEncoder)
    single.__dict__.update(encoder.__dict__, settings=VaeSettings(preset="tiny", batch_size=1), batch_size=1)
    result = _run(_items(clips, tmp_path), _FailingEncoder(single, fail_on=2, mode="zeros"), tmp_path)
    assert result.counts == {"encoded": 2, "failed": 1}
    failed = next(r for r in result.clips if r["status"] == "failed")
    assert "constant latents" in failed["reason"] and not Path(failed["latent_path"]).exists()


def test_failed_batch_is_recorded_and_a_rerun_resumes_with_only_the_missing_clips(clips, encoder, tmp_path):
    single = VaeEncoder.__new__(VaeEncoder)
    single.__dict__.update(encoder.__dict__, settings=VaeSettings(preset="tiny", batch_size=1), batch_size=1)
    first = _run(_items(clips, tmp_path), _FailingEncoder(single, fail_on=3, mode="raise"), tmp_path)
    assert first.counts == {"encoded": 2, "failed": 1}
    assert "out of memory" in next(r for r in first.clips if r["status"] == "failed")["reason"]
    resumed = _run(_items(clips, tmp_path), single, tmp_path)
    assert resumed.counts == {"encoded": 1, "skipped": 2}


def test_bad_clips_fail_with_reasons_and_the_rest_are_encoded(clips, encoder, tmp_path):
    short = tmp_path / "short.mp4"
    write_clip(short, seconds=0.5)
    gone = tmp_path / "gone.mp4"
    items = _items(clips[:1], tmp_path) + [
        LatentItem("short", str(short), tmp_path / "cogvideox" / "urban" / "short.npz", "x"),
        LatentItem("gone", str(gone), tmp_path / "cogvideox" / "urban" / "gone.npz", "y"),
    ]
    result = _run(items, encoder, tmp_path, workers=2)
    status = {r["video_id"]: (r["status"], r["reason"]) for r in result.clips}
    assert status["video0"][0] == "encoded"
    assert status["short"][0] == "failed" and "too_short" in status["short"][1]
    assert status["gone"][0] == "failed" and "missing" in status["gone"][1]


def test_pretrained_loading_path_reads_a_saved_model(encoder, clips, tmp_path):
    encoder.vae.save_pretrained(tmp_path / "model" / "vae")
    loaded = VaeEncoder(VaeSettings(model_id=str(tmp_path / "model"), subfolder="vae", dtype="float32"))
    assert loaded.model_id == str(tmp_path / "model") and loaded.identity()["latent_channels"] == 4
    window = np.random.default_rng(0).integers(0, 255, (1, 9, 96, 144, 3), dtype=np.uint8)
    assert np.array_equal(loaded.encode(window)["latent_mean"], encoder.encode(window)["latent_mean"])


def test_low_memory_preset_turns_on_tiling_and_slicing():
    settings = VaeSettings(preset="low_memory", batch_size=4).resolved()
    assert (settings.tiling, settings.slicing, settings.batch_size) == (True, True, 1)
    with pytest.raises(ValueError, match="unknown VAE preset"):
        VaeSettings(preset="huge")


def test_corrupt_or_garbage_cache_files_are_reported(clips, encoder, tmp_path):
    _run(_items(clips[:1], tmp_path), encoder, tmp_path)
    path = tmp_path / "cogvideox" / "urban" / "video0.npz"
    header, arrays = load_latent_file(path)
    from prep_platform.lib.files.latent_file import write_latent_file

    write_latent_file(path, {**arrays, "latent_mean": np.zeros_like(arrays["latent_mean"])}, header)
    assert any("all-constant" in p for p in latent_file_problems(path, expect={"shape": SHAPE}))
    write_latent_file(path, {**arrays, "latent_logvar": np.full_like(arrays["latent_logvar"], np.inf)}, header)
    assert any("non-finite" in p for p in latent_file_problems(path, expect={"shape": SHAPE}))
    assert any("shape" in p for p in latent_file_problems(path, expect={"shape": (16, 13, 60, 90)}))
    path.write_bytes(b"garbage")
    assert "unreadable" in latent_file_problems(path, expect={})[0]
    os.remove(path)


def test_a_run_with_every_cache_current_builds_no_model(clips, tmp_path):
    first = VaeEncoder(VaeSettings(preset="tiny"))
    assert not first.loaded  # its identity (the cache fingerprint) comes from the config alone
    assert _run(_items(clips, tmp_path), first, tmp_path).counts == {"encoded": 3}
    assert first.loaded and first.run_facts()["model_loaded"]
    builds = VaeEncoder.loads
    again = VaeEncoder(VaeSettings(preset="tiny"))
    result = _run(_items(clips, tmp_path), again, tmp_path, workers=2)
    assert result.counts == {"skipped": 3} and result.startup_s is None
    assert not again.loaded and again.vae is None and VaeEncoder.loads == builds
    assert result.encoder["model_loaded"] is False
    # One stale clip: the model is built, once, and the clip's header says how it was encoded.
    os.utime(clips[0])  # same bytes: still current
    (tmp_path / "cogvideox" / "urban" / "video2.npz").unlink()
    result = _run(_items(clips, tmp_path), again, tmp_path, workers=2)
    assert result.counts == {"encoded": 1, "skipped": 2} and VaeEncoder.loads == builds + 1
    header, _ = load_latent_file(tmp_path / "cogvideox" / "urban" / "video2.npz")
    assert (header.batch_size, header.compiled, header.batch_choice) == (1, False, "auto: batch 1 on CPU")
    assert result.startup_s is not None and result.startup_s <= result.duration_s


def test_gpu_defaults_compile_and_batch_from_free_memory(monkeypatch):
    from prep_platform.lib.models import vae as vae_module

    gib = 2**30
    # 49x480x720: ~7.8 GiB per clip untiled. An H200/H100 takes 4, a 40 GB card 2, a 24 GB card the tiled path.
    assert vae_module.choose_batch(130 * gib, 49, 480, 720)[:2] == (4, False)
    assert vae_module.choose_batch(75 * gib, 49, 480, 720)[:2] == (4, False)
    assert vae_module.choose_batch(39 * gib, 49, 480, 720)[:2] == (2, False)
    assert vae_module.choose_batch(23 * gib, 49, 480, 720)[:2] == (1, True)
    assert vae_module.choose_batch(23 * gib, 49, 240, 360)[:2] == (4, False)  # a quarter of the pixels

    # On CUDA (no GPU is touched before load): compile on, batch from free memory, recorded; CPU unchanged.
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (75 * gib, 80 * gib))
    cuda = VaeEncoder(VaeSettings(preset="tiny", device="cuda"))
    assert cuda.compiled is True and cuda.plan_batch(49, 480, 720) == 4 and not cuda.tiling
    assert cuda.run_facts()["batch_choice"].startswith("auto: batch 4 (75.0 GiB free")
    small = VaeEncoder(VaeSettings(preset="tiny", device="cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (22 * gib, 24 * gib))
    assert small.plan_batch(49, 480, 720) == 1 and small.tiling and small.compiled
    # Explicit settings win: --batch-size and --no-compile.
    explicit = VaeEncoder(VaeSettings(preset="tiny", device="cuda", batch_size=2, compile=False))
    assert explicit.plan_batch(49, 480, 720) == 2 and explicit.compiled is False and explicit.batch_choice == "explicit"
    cpu = VaeEncoder(VaeSettings(preset="tiny"))
    assert (cpu.plan_batch(49, 480, 720), cpu.compiled, cpu.tiling) == (1, False, False)


def test_a_compiled_encoder_pads_the_last_batch_to_one_shape(clips, monkeypatch):
    """A compiled encoder sees one batch shape (a new shape would compile again): the short last batch is padded
    and the padding's outputs dropped; the kept latents equal an unpadded encode."""
    encoder = VaeEncoder(VaeSettings(preset="tiny", batch_size=3))
    encoder.load()
    seen = []
    real = encoder.vae.encode
    monkeypatch.setattr(encoder.vae, "encode", lambda x: (seen.append(tuple(x.shape)), real(x))[1])
    windows = np.stack([read_window(p, CONFIG, want_frames=True, count_all=False).frames for p in clips[:2]])
    plain = encoder.encode(windows)
    encoder.compiled = True  # as on CUDA (compiling itself is not needed to test the shapes it is given)
    padded = encoder.encode(windows)
    assert [s[0] for s in seen] == [2, 2, 3, 3]  # video and first-frame passes; padded to the batch of 3
    assert padded["latent_mean"].shape[0] == 2
    for key in plain:
        np.testing.assert_allclose(padded[key].astype(np.float32), plain[key].astype(np.float32), atol=2e-3)
