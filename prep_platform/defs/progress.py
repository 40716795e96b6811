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


def clip_progress_logger(context: dg.AssetExecutionContext, what: str) -> Callable[[int, int, Counter], None]:
    started = time.monotonic()
    last_logged = [-1]

    def log(done: int, total: int, counts: Counter) -> None:
        step = max(1, total // 10)
        if done == total or done // step != last_logged[0]:
            last_logged[0] = done // step
            rate = done / max(time.monotonic() - started, 1e-6)
            failed = failure_count(counts)
            message = f"{what}: {done}/{total} clips, {rate:.1f} clips/s, {failed} failed so far"
            context.log.info(message)
            if os.environ.get(PROGRESS_TO_STDERR_ENV):  # main_job: its console shows progress, not Dagster's log
                print(f"    {context.asset_key.to_user_string()}: {message}", file=sys.stderr, flush=True)

    return log
