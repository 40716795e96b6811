"""Progress logging for long assets: a line every ~10% so the run's log shows it is moving."""


import os
import sys
import time
from collections import Counter
from collections.abc import Callable

import dagster as dg

from prep_platform.lib.statuses import failure_count


# Set by `python -m prep_platform.main_job`, which silences Dagster's console logger (it would print every stack
# trace in full) and still owes its user progress during long steps.
PROGRESS_TO_STDERR_ENV = "PREP_PLATFORM_PROGRESS_TO_STDERR"


def clip_progress_logger(context: dg.AssetExecutionContext, what: str, *, shard: str | None = None,
                         unit: str = "clip", failed: str = "failed") -> Callable[[int, int, Counter], None]:
    """A progress callback that logs `what: done/total units` every ~10%. `shard`: the partition it is about (a run
    of several shards logs each, so the line must say which); `unit`: what is counted (clip, prompt, caption);
    `failed`: what the units of a status other than success are (failed; kept out, for labelling)."""
    started = time.monotonic()
    last_logged = [-1]
    where = context.asset_key.to_user_string() + (f"[{shard}]" if shard else "")

    def log(done: int, total: int, counts: Counter) -> None:
        step = max(1, total // 10)
        if done == total or done // step != last_logged[0]:
            last_logged[0] = done // step
            rate = done / max(time.monotonic() - started, 1e-6)
            message = f"{what}: {done}/{total} {unit}s, {rate:.1f} {unit}s/s"
            if counts:  # nothing counted by status (captions embedded): no "0 failed" to say
                message += f", {failure_count(counts)} {failed} so far"
            context.log.info(f"{shard}: {message}" if shard else message)
            if os.environ.get(PROGRESS_TO_STDERR_ENV):  # main_job: its console shows progress, not Dagster's log
                print(f"    {where}: {message}", file=sys.stderr, flush=True)

    return log
