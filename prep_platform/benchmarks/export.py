"""Export speed: the whole cogvideox-factory export (latent tensors converted from the npz cache files, read back
by the trainer's rules, published) against a plain copy of the same npz bytes, side by side in one run, on
full-size clips (49x480x720: latents [16, 13, 60, 90]); and prompt encoding speed with a text encoder preset.

    python -m prep_platform.benchmarks.export [--clips 200] [--repeats 3]
    python -m prep_platform.benchmarks.export --prompts-only --text-encoder-preset default --device cuda
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from prep_platform.lib import pipeline
from prep_platform.lib.exports import cogvideox_factory
from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.files.latent_file import LatentHeader, write_latent_file
from prep_platform.lib.files.prompt_embedding_file import PromptEmbeddingHeader, prompt_sha256, write_prompt_embedding

LATENT_SHAPE = (16, 13, 60, 90)


def make_inputs(folder: Path, clips: int, *, shared_prompt: bool = False) -> list[ExportSample]:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(clips):
        arrays = {"latent_mean": rng.standard_normal(LATENT_SHAPE, dtype=np.float32).astype(np.float16),
                  "latent_logvar": rng.standard_normal(LATENT_SHAPE, dtype=np.float32).astype(np.float16),
                  "image_latents": rng.standard_normal((16, 1, 60, 90), dtype=np.float32).astype(np.float16),
                  "image_logvar": rng.standard_normal((16, 1, 60, 90), dtype=np.float32).astype(np.float16)}
        header = {"frames": 49, "fps": 8.0, "width": 720, "height": 480, "latent_channels": 16,
                  "temporal_compression_ratio": 4, "spatial_compression_ratio": 8,
                  "scaling_factor": 1.15258426, "vae_fingerprint": "bench", "frame_config_fingerprint": "bench",
                  "config_fingerprint": f"c{i}", "source_fingerprint": f"s{i}", "model_id": "bench"}
        latent = folder / "latents" / f"clip{i}.npz"
        write_latent_file(latent, arrays, LatentHeader.from_json(header))
        prompt = "one benchmark prompt" if shared_prompt else f"benchmark prompt number {i}"
        embedding = folder / "prompts" / f"{prompt_sha256(prompt)}.safetensors"
        if not embedding.exists():
            write_prompt_embedding(embedding, torch.randn(226, 4096).to(torch.bfloat16),
                                   PromptEmbeddingHeader(prompt=prompt, prompt_sha256=prompt_sha256(prompt)))
        samples.append(ExportSample(stem=f"bench__clip{i}", scenario="bench", video_id=f"clip{i}", sample_id=f"clip{i}", split="train",
                                    augmentation="none", prompt_variant=0, prompt=prompt, prompt_sha256=prompt_sha256(prompt),
                                    prompt_embedding=str(embedding), latent_path=str(latent), image_path="", header=header))
    return samples


def plain_copy(paths: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True)
    for k, path in enumerate(paths):
        shutil.copyfile(path, folder / f"{k}{path.suffix}")


def export_latents(samples: list[ExportSample], folder: Path, threads: int) -> None:
    """The latent part of the cogvideox-factory export (video_latents + image_latents), as the exporter does it."""
    from concurrent.futures import ThreadPoolExecutor

    from prep_platform.lib.exports.files import without_zip_checksums

    with without_zip_checksums(), ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda sample: cogvideox_factory.convert_window(sample, folder), samples))


def whole_export(samples: list[ExportSample], folder: Path) -> float:
    """The export as a user runs it: write, read back by the trainer's rules, publish. Returns the read-back's s."""
    from prep_platform.lib.exports.export import run_export

    return run_export(samples, "cogvideox-factory", folder).read_back_s


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_exports(clips: int, repeats: int, threads: int) -> dict:
    """Side by side per repeat (order alternating, the same page-cached inputs): a plain copy of the npz files;
    the conversion alone; the whole export (conversion, read-back, publish) with one prompt shared by every clip
    (the latents' cost, the issue's target) and with a prompt per clip against a copy of npz + embedding files."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shared = make_inputs(tmp / "shared", clips, shared_prompt=True)
        distinct = make_inputs(tmp / "distinct", clips)
        npz = [Path(s.latent_path) for s in shared]
        inputs = [Path(s.latent_path) for s in distinct] + [Path(s.prompt_embedding) for s in distinct]
        npz_bytes = sum(p.stat().st_size for p in npz)
        times: dict[str, list[float]] = {"copy": [], "convert": [], "export": [], "copy_all": [], "export_all": []}
        read_back: list[float] = []
        for repeat in range(repeats):
            out = tmp / f"out{repeat}"
            runs = [("copy", lambda: plain_copy(npz, out / "copy")),
                    ("convert", lambda: export_latents(shared, out / "convert", threads)),
                    ("export", lambda: read_back.append(whole_export(shared, out / "export"))),
                    ("copy_all", lambda: plain_copy(inputs, out / "copy_all")),
                    ("export_all", lambda: whole_export(distinct, out / "export_all"))]
            for name, fn in runs if repeat % 2 == 0 else reversed(runs):
                times[name].append(timed(fn))
            shutil.rmtree(out)
    median = {name: statistics.median(values) for name, values in times.items()}
    return {"clips": clips, "threads": threads, "npz_gb": round(npz_bytes / 1e9, 3),
            **{f"{name}_s": round(value, 3) for name, value in median.items()},
            "read_back_s": round(statistics.median(read_back), 3),
            "convert_ratio": round(median["convert"] / median["copy"], 3),
            "ratio": round(median["export"] / median["copy"], 3),
            "all_ratio": round(median["export_all"] / median["copy_all"], 3), "runs": times}


def bench_prompts(preset: str, device: str, batch_size: int, prompts: int) -> dict:
    from prep_platform.lib.models.text_encoder import TextEncoderSettings

    encoder = pipeline.load_text_encoder(TextEncoderSettings(preset=preset, device=device, batch_size=batch_size))
    texts = [f"a person walks along a busy street number {i} while cars pass by" for i in range(prompts)]
    encoder.encode(texts[:batch_size])  # warm-up
    if encoder.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for start in range(0, prompts, batch_size):
        encoder.encode(texts[start:start + batch_size])
    if encoder.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if encoder.device.type == "cuda" else None
    return {"preset": preset, "device": str(encoder.device), "dtype": str(encoder.dtype), "batch_size": batch_size,
            "prompts": prompts, "prompts_per_s": round(prompts / seconds, 2),
            "peak_gpu_gib": round(peak, 2) if peak is not None else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="conversion threads (the exporter's default)")
    parser.add_argument("--prompts-only", action="store_true")
    parser.add_argument("--text-encoder-preset", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=256)
    args = parser.parse_args()
    if not args.prompts_only:
        result = bench_exports(args.clips, args.repeats, args.threads)
        print(f"cogvideox-factory export: {result['clips']} clips of 49x480x720 latents ({result['npz_gb']} GB of npz); "
              f"medians of {args.repeats}")
        print(f"  plain copy of the npz files: {result['copy_s']:.2f} s; conversion alone (video_latents + "
              f"image_latents, {result['threads']} threads): {result['convert_s']:.2f} s ({result['convert_ratio']:.2f}x)")
        print(f"  whole export (conversion, read-back {result['read_back_s']:.2f} s, publish), one shared prompt: "
              f"{result['export_s']:.2f} s; ratio {result['ratio']:.2f}x (target <= 2x) -> "
              f"{'PASS' if result['ratio'] <= 2.0 else 'FAIL'}")
        print(f"  with a [226, 4096] bf16 prompt per clip: export {result['export_all_s']:.2f} s vs copy of npz + "
              f"embeddings {result['copy_all_s']:.2f} s; ratio {result['all_ratio']:.2f}x")
    prompts = bench_prompts(args.text_encoder_preset, args.device, args.batch_size, args.prompts)
    print(f"prompt encoding ({prompts['preset']}, {prompts['device']}, {prompts['dtype']}, batch {prompts['batch_size']}): "
          f"{prompts['prompts_per_s']} prompts/s over {prompts['prompts']} prompts"
          + (f", peak GPU memory {prompts['peak_gpu_gib']} GiB" if prompts["peak_gpu_gib"] is not None else ""))
    print(json.dumps({"prompts": prompts}))


if __name__ == "__main__":
    main()
