"""Benchmark: scenario metadata for the full MSR-VTT size (10,000 clips, 200,000 captions), synthetic.

    python -m prep_platform.benchmarks.scenario_metadata [--clips 10000] [--repeats 5]

End to end from the JSON file: parse + validate the annotation, read the manifest, label every clip from all
20 captions, split, write the metadata and its report. Pinned to one core. Prints the median and each run.
Target: under 5 s (the replaced script took ~6 min for 1.5k clips on 8 cores).
"""

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from prep_platform.lib.source_files import ManifestRow, write_manifest
from prep_platform.lib.stages.metadata import build_scenario_metadata, write_scenario_metadata
from prep_platform.lib.msr_vtt_categories import CATEGORY_IDS
from prep_platform.lib.layout import DataLayout, MsrVttFolder
from prep_platform.samples.msr_vtt import NEUTRAL_CAPTIONS, SCENARIO_CATEGORY, SCENARIO_PHRASES

GENERIC = [
    "a man", "a woman", "someone", "a person", "a group of people", "a girl", "a boy", "a cartoon character",
    "is talking about", "is showing", "is playing with", "is looking at", "describes", "walks near",
    "a video", "something", "the camera", "a song", "music plays", "in a room", "on stage", "outside",
]


def write_synthetic_msr_vtt(folder: Path, n_clips: int, *, seed: int = 0) -> Path:
    """An MSR-VTT-shaped annotation (20 captions per clip) and an all-ok manifest for `n_clips` clips."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    scenarios = list(SCENARIO_PHRASES)
    videos, sentences, rows = [], [], []
    for index in range(n_clips):
        video_id = f"video{index}"
        scenario = rng.choice(scenarios)
        split = "train" if index < n_clips * 0.65 else ("validate" if index < n_clips * 0.7 else "test")
        videos.append({"category": CATEGORY_IDS[SCENARIO_CATEGORY[scenario]],
                       "url": f"https://www.youtube.com/watch?v=synthetic{index}", "video_id": video_id,
                       "start time": 1.0, "end time": 14.0, "split": split, "id": index})
        for _ in range(20):
            roll = rng.random()
            if roll < 0.35:
                caption = rng.choice(SCENARIO_PHRASES[scenario])
            elif roll < 0.5:
                caption = rng.choice(NEUTRAL_CAPTIONS)
            else:
                caption = " ".join(rng.choice(GENERIC) for _ in range(rng.randint(3, 6)))
            sentences.append({"caption": caption, "video_id": video_id, "sen_id": len(sentences)})
        rows.append(ManifestRow(video_id, f"train-video/{video_id}.mp4", 1_000_000, 29.97, 390, 320, 240, 13.0,
                                "ok", "", videos[-1]["category"], split))
    info = {"year": "2016", "version": "1.0", "description": "synthetic", "contributor": "benchmark", "data_created": ""}
    MsrVttFolder(folder).annotation.write_text(json.dumps({"info": info, "videos": videos, "sentences": sentences}))
    write_manifest(MsrVttFolder(folder).manifest, rows)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_synthetic_msr_vtt(Path(tmp) / "raw", args.clips)
        size_mb = MsrVttFolder(raw).annotation.stat().st_size / 1e6
        timings = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = build_scenario_metadata(DataLayout(Path(tmp)).relocated(msr_vtt=raw), limit=None, validation_ratio=0.1)
            write_scenario_metadata(result, Path(tmp) / "metadata" / "scenario_metadata.json")
            timings.append(time.perf_counter() - started)
        counts = result.counts
    median = statistics.median(timings)
    print(f"scenario metadata, {args.clips} clips / {args.clips * 20} captions ({size_mb:.1f} MB JSON), one core")
    print(f"  runs (s): {', '.join(f'{t:.2f}' for t in timings)}")
    print(f"  median: {median:.2f} s  ({args.clips / median:,.0f} clips/s)  target: < 5 s  -> {'PASS' if median < 5 else 'FAIL'}")
    print(f"  labelled {counts['labelled']}, train {counts['train']}, validation {counts['validation']}, "
          f"excluded {counts['excluded']} {counts['excluded_by_reason']}")
    old_rate = 1500 / 360 / 8  # the replaced script: 1.5k clips in ~6 min on 8 cores, per core
    print(f"  vs the replaced script: {args.clips / median / old_rate:,.0f}x the clips per core-second")


if __name__ == "__main__":
    main()
