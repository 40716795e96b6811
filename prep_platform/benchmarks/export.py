"""Export speed: the cogvideox-factory layout (latent tensors converted from the npz cache files) against a plain
copy of the same npz bytes, side by side in one run, on full-size clips (49x480x720: latents [16, 13, 60, 90]);
and prompt encoding speed with a text encoder preset.

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

from prep_platform.lib.exports import cogvideox_factory
from prep_platform.lib.exports.collect import ExportSample
from prep_platform.lib.files.latent_file import write_latent_file
from prep_platform.lib.files.prompt_embedding_file import prompt_sha256, write_prompt_embedding

LATENT_SHAPE = (16, 13, 60, 90)


def make_inputs(folder: Path, clips: int) -> list[ExportSample]:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(clips):
        arrays = {"latent_mean": rng.standard_normal(LATENT_SHAPE, dtype=np.float32).astype(np.float16),
                  "latent_logvar": rng.standard_normal(LATENT_SHAPE, dtype=np.float32).astype(np.float16),
                  "image_latents": rng.standard_normal((16, 1, 60, 90), dtype=np.float32).astype(np.float16)}
        header = {"frames": 49, "fps": 8.0, "width": 720, "height": 480, "latent_channels": 16,
                  "scaling_factor": 1.15258426, "vae_fingerprint": "bench", "frame_config_fingerprint": "bench",
                  "config_fingerprint": f"c{i}", "source_fingerprint": f"s{i}", "model_id": "bench"}
        latent = folder / "latents" / f"clip{i}.npz"
        write_latent_file(latent, arrays, header)
        prompt = f"benchmark prompt number {i}"
        embedding = folder / "prompts" / f"{prompt_sha256(prompt)}.safetensors"
        write_prompt_embedding(embedding, torch.randn(226, 4096).to(torch.bfloat16), {"prompt": prompt})
        samples.append(ExportSample(stem=f"bench__clip{i}", scenario="bench", video_id=f"clip{i}", sample_id=f"clip{i}", split="train",
                                    augmentation="none", prompt_variant=0, prompt=prompt, prompt_sha256=prompt_sha256(prompt),
                                    prompt_embedding=str(embedding), latent_path=str(latent), image_path="", header=header))
    return samples


def plain_copy(samples: list[ExportSample], folder: Path) -> None:
    folder.mkdir(parents=True)
    for sample in samples:
        shutil.copyfile(sample.latent_path, folder / f"{sample.stem}.npz")


def export_latents(samples: list[ExportSample], folder: Path, threads: int) -> None:
    """The latent part of the cogvideox-factory export (video_latents + image_latents), as the exporter does it."""
    from concurrent.futures import ThreadPoolExecutor

    from prep_platform.lib.exports.files import without_zip_checksums

    with without_zip_checksums(), ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda sample: cogvideox_factory.convert_window(sample, folder), samples))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_exports(clips: int, repeats: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = make_inputs(tmp / "in", clips)
        npz_bytes = sum(Path(s.latent_path).stat().st_size for s in samples)
        copy_s, convert_s, full_s = [], [], []
        for repeat in range(repeats):
            out = tmp / f"out{repeat}"
            # Side by side, the order alternating, each on the same (page-cached) npz bytes.
            runs = [("copy", lambda: plain_copy(samples, out / "copy")),
                    ("convert", lambda: export_latents(samples, out / "convert", threads)),
                    ("full", lambda: cogvideox_factory.write(samples, out / "full", threads=threads))]
            for name, fn in runs if repeat % 2 == 0 else reversed(runs):
                {"copy": copy_s, "convert": convert_s, "full": full_s}[name].append(timed(fn))
            shutil.rmtree(out)
    copy, convert, full = statistics.median(copy_s), statistics.median(convert_s), statistics.median(full_s)
    return {"clips": clips, "threads": threads, "npz_gb": round(npz_bytes / 1e9, 3), "copy_s": round(copy, 3), "convert_s": round(convert, 3),
            "ratio": round(convert / copy, 3), "full_export_s": round(full, 3), "runs": {"copy": copy_s, "convert": convert_s}}


def bench_prompts(preset: str, device: str, batch_size: int, prompts: int) -> dict:
    from prep_platform.lib.models.text_encoder import TextEncoder, TextEncoderSettings

    encoder = TextEncoder(TextEncoderSettings(preset=preset, device=device, batch_size=batch_size))
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
        print(f"  plain copy of the npz files: {result['copy_s']:.2f} s; converted to video_latents + image_latents: "
              f"{result['convert_s']:.2f} s ({result['threads']} threads); ratio {result['ratio']:.2f}x (target <= 2x) -> "
              f"{'PASS' if result['ratio'] <= 2.0 else 'FAIL'}")
        print(f"  the whole layout (plus prompt_embeds from bf16 [226, 4096] files, lists): {result['full_export_s']:.2f} s")
    prompts = bench_prompts(args.text_encoder_preset, args.device, args.batch_size, args.prompts)
    print(f"prompt encoding ({prompts['preset']}, {prompts['device']}, {prompts['dtype']}, batch {prompts['batch_size']}): "
          f"{prompts['prompts_per_s']} prompts/s over {prompts['prompts']} prompts"
          + (f", peak GPU memory {prompts['peak_gpu_gib']} GiB" if prompts["peak_gpu_gib"] is not None else ""))
    print(json.dumps({"prompts": prompts}))


if __name__ == "__main__":
    main()
