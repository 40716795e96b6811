"""The walk of one clip, raw `.mp4` -> latent `.npz`, as an executed call trace: which project functions run, in
which files, when one clip of the embedded sample is downloaded, labelled, framed and encoded (in process, one
clip, the tiny VAE). The review's second measure of how long the house is (issue 29: 124 functions over 18 files,
then 178 over 31); docs/clip_walk.md keeps the hand-counted hop list beside it.

    python -m prep_platform.benchmarks.clip_walk [--list]

Counted: every distinct function of `prep_platform` (not the demo sample's generators, not the shells) that runs
while the clip walks. Left out, as the review counts hops: path getters (lib.layout, lib.safe_paths), locks,
progress and settings validation. `--list` prints each function with its file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
# Not the clip's journey: demo data, the shells, this tool; and what the hop count leaves out.
SKIPPED_PARTS = ("samples/", "benchmarks/", "defs/", "data_prep/", "main_job.py")
NOT_HOPS = ("lib/layout.py", "lib/safe_paths.py", "lib/progress.py", "lib/setting_rules.py", "lib/settings.py")
NOT_HOP_NAMES = ("folder_lock", "say_on_stderr", "progress", "report", "__post_init__", "<genexpr>", "<listcomp>",
                 "<dictcomp>", "<setcomp>", "<lambda>")


def trace_walk() -> dict[str, dict[str, set[str]]]:
    """stage -> file -> the functions of that file run while one clip walks through the stage."""
    from prep_platform.lib import pipeline
    from prep_platform.lib.models.vae import VaeEncoder, VaeSettings
    from prep_platform.lib.settings import PrepSettings
    from prep_platform.samples import DEMO_SAMPLE

    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    stage = {"name": ""}

    def profile(frame, event, arg):
        if event != "call":
            return
        path = frame.f_code.co_filename
        if not path.startswith(str(PACKAGE)):
            return
        relative = Path(path).relative_to(PACKAGE).as_posix()
        if relative.startswith(SKIPPED_PARTS) or relative.startswith(NOT_HOPS):
            return
        name = frame.f_code.co_qualname if hasattr(frame.f_code, "co_qualname") else frame.f_code.co_name
        if name.split(".")[-1] in NOT_HOP_NAMES:
            return
        seen[stage["name"]][relative].add(name)

    with tempfile.TemporaryDirectory() as root:
        settings = PrepSettings(data_root=root, msr_vtt_source="sample", msr_vtt_limit=1, metadata_limit=1, workers=0,
                                frame_size="144x96", frames=9, validation_ratio=0.0)
        layout = settings.layout()
        encoder = VaeEncoder(VaeSettings(preset="tiny"))
        encoder.load()  # building the model is not the clip's walk
        def traced(name: str, step) -> None:
            stage["name"] = name
            sys.setprofile(profile)
            try:
                step()
            finally:
                sys.setprofile(None)

        traced("download", lambda: pipeline.fetch_msr_vtt(settings, layout, sample=DEMO_SAMPLE))
        traced("metadata", lambda: pipeline.build_metadata(settings, layout))
        shards = pipeline.work_shards(settings, layout)
        scenario = next(s for s, numbers in shards.items() if numbers)
        traced("frames", lambda: pipeline.prepare_frames(settings, layout, scenario, 0))
        traced("latents", lambda: pipeline.encode_latents(settings, layout, scenario, 0, encoder))
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every function with its file")
    args = parser.parse_args(argv)
    seen = trace_walk()
    all_functions = {(file, name) for files in seen.values() for file, names in files.items() for name in names}
    all_files = {file for file, _ in all_functions}
    print(f"{'stage':<10} {'functions':>9} {'files':>6}")
    for stage, files in seen.items():
        print(f"{stage:<10} {sum(len(names) for names in files.values()):>9} {len(files):>6}")
    print(f"{'walk':<10} {len(all_functions):>9} {len(all_files):>6}   (distinct over the whole walk)")
    if args.list:
        for file in sorted(all_files):
            print(f"\n{file}")
            for name in sorted(n for f, n in all_functions if f == file):
                print(f"    {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
