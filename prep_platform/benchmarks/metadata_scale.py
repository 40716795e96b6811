"""Benchmark: the metadata stage at Panda-70M scale: peak memory and wall time against the number of records.

    python -m prep_platform.benchmarks.metadata_scale [--records 100000 1000000] [--labeller keywords]

For each size, synthetic Panda-70M download shards as the ingest leaves them (1,000 clips per shard: the
downloader's fields, one caption per clip, as `ingested/<shard>.csv` + captions) beside an empty MSR-VTT
folder; then the metadata step as the pipeline runs it (label, split, assign shards, write the Parquet store, its
view and report) in a fresh process pinned to one core, whose peak RSS is read from the kernel (ru_maxrss).
The keyword labeller by default: the embedding labeller's cost is the sentence encoder's (see
benchmarks.labelling), not the stage's. Targets: peak RSS at most 1 GiB for 1,000,000 records and at most 1.2x the
peak at 100,000 (memory flat in the dataset size).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from prep_platform.lib.source_files import ManifestRow, write_manifest
from prep_platform.lib.layout import DataLayout
from prep_platform.samples.msr_vtt import NEUTRAL_CAPTIONS, SCENARIO_PHRASES

CLIPS_PER_SHARD = 1000


def write_panda_shards(layout: DataLayout, records: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    panda = layout.panda
    scenarios = list(SCENARIO_PHRASES)
    for shard in range(-(-records // CLIPS_PER_SHARD)):
        name = f"{shard:05d}"
        (panda.shards_dir / name).mkdir(parents=True, exist_ok=True)
        rows, captions = [], {}
        for i in range(shard * CLIPS_PER_SHARD, min(records, (shard + 1) * CLIPS_PER_SHARD)):
            video_id = f"panda_{i:09d}"
            rows.append(ManifestRow(video_id, str(panda.shards_dir / name / f"{i:09d}.mp4"), 1_400_000, 30.0, 255,
                                    640, 360, 8.5, "ok", "", -1, "panda70m"))
            scenario = rng.choice(scenarios)
            caption = rng.choice(SCENARIO_PHRASES[scenario]) if rng.random() < 0.8 else rng.choice(NEUTRAL_CAPTIONS)
            captions[video_id] = [caption]
        write_manifest(panda.ingested_manifest(name), rows)
        panda.ingested_captions(name).write_text(json.dumps({"captions": captions, "source_meta": {}}))
        panda.ingest_report(name).write_text(json.dumps({"shard": name, "clips": len(rows)}))
    msr = layout.msr_vtt
    msr.root.mkdir(parents=True, exist_ok=True)
    msr.annotation.write_text(json.dumps({"info": {"year": "2016", "version": "1.0", "description": "", "contributor": "",
                                                   "data_created": ""}, "videos": [], "sentences": []}))
    write_manifest(msr.manifest, [])


STEP = """
import os, resource, sys, time
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}) if hasattr(os, "sched_setaffinity") else None
from prep_platform.lib import pipeline
from prep_platform.lib.settings import PrepSettings
settings = PrepSettings(data_root=sys.argv[1], msr_vtt_source="sample", metadata_limit=0)
started = time.perf_counter()
from prep_platform.lib.stages.metadata import build_scenario_metadata, write_scenario_metadata
layout = settings.layout()
result = build_scenario_metadata(layout, limit=None, labeller_kind=sys.argv[2], shard_size=settings.shard_size)
write_scenario_metadata(result, layout.metadata_file)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, result.counts["train"] + result.counts["validation"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--labeller", default="keywords", choices=("keywords", "embedding"))
    args = parser.parse_args()
    peaks = {}
    for records in args.records:
        with tempfile.TemporaryDirectory() as tmp:
            layout = DataLayout(Path(tmp))
            write_panda_shards(layout, records)
            done = subprocess.run([sys.executable, "-c", STEP, tmp, args.labeller], capture_output=True, text=True,
                                  timeout=7200)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            wall, peak_kb, kept = done.stdout.split()[-3:]
            peaks[records] = int(peak_kb) / 1024
            print(f"  {records:>9,} records: {float(wall):7.1f} s on one core, peak RSS {peaks[records]:7.0f} MB, "
                  f"{int(kept):,} labelled", flush=True)
    if len(peaks) >= 2:
        small, large = min(peaks), max(peaks)
        ratio = peaks[large] / peaks[small]
        ok = peaks[large] <= 1024 and ratio <= 1.2
        print(f"metadata stage ({args.labeller} labeller): peak at {large:,} = {peaks[large]:.0f} MB (target <= 1024), "
              f"{ratio:.2f}x the peak at {small:,} (target <= 1.2x) -> {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
