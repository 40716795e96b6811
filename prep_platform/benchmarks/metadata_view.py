"""What writing the metadata's JSON view costs a stage: the frame and latent stages write it again after every shard
(stages.metadata, its view), so its time is added to each shard's. Stores of 1,000, 20,000 (the view's record limit) and
100,000 synthetic records before any stage ran (every path planned by the layout: the dearer case); medians of
--repeats writes, and the view's size.

    python -m prep_platform.benchmarks.metadata_view [--sizes 1000,20000,100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from prep_platform.lib.files.metadata_store import write_records
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.stages.metadata import VIEW_RECORD_LIMIT, write_metadata_view

SCENARIOS = ("urban", "nature", "crowd", "transport", "press_room")
SHARD_SIZE = 500


def synthetic_records(n: int) -> list[dict]:
    """Records shaped like the sample's (a caption, six prompt variants, the source facts and the label evidence)."""
    caption = "a busy street with cars and people walking past the shops"
    return [{"video_id": f"video{i}", "split": "validation" if i % 10 == 0 else "train",
             "scenario": SCENARIOS[i % len(SCENARIOS)], "shard": (i // len(SCENARIOS)) // SHARD_SIZE,
             "video_path": f"data/raw/msr-vtt/train-video/video{i}.mp4", "caption": caption,
             "prompt_variants": [caption] + [f"{caption}, variant {k}" for k in range(5)],
             "source": {"dataset": "msr-vtt", "fps": 30.0, "width": 320, "height": 240, "duration_s": 10.0},
             "label": {"labeller": "embedding", "votes": {"urban": 9, "other": 2}, "margin": 0.52,
                       "deciding_captions": [caption] * 3}}
            for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"view record limit: {VIEW_RECORD_LIMIT:,}")
    print(f"{'records':>9}  {'shown':>7}  {'write s (median)':>16}  {'view MiB':>8}")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "data"
            store = root / "metadata" / "scenario_metadata.parquet"
            store.parent.mkdir(parents=True)
            write_records(store, synthetic_records(n))
            layout = DataLayout(root).relocated(metadata_file=store)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                view = write_metadata_view(layout)
                times.append(time.perf_counter() - started)
            print(f"{n:>9,}  {min(n, VIEW_RECORD_LIMIT):>7,}  {statistics.median(times):>16.2f}  "
                  f"{view.stat().st_size / 2**20:>8.1f}")


if __name__ == "__main__":
    main()
