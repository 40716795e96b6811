"""Progress logging for long assets: a line every ~10% so the run's log shows it is moving."""


import time
from collections import Counter
from collections.abc import Callable

import dagster as dg

from prep_platform.lib.manifest import failure_count


def clip_progress_logger(context: dg.AssetExecutionContext, what: str) -> Callable[[int, int, Counter], None]:
    started = time.monotonic()
    last_logged = [-1]

    def log(done: int, total: int, counts: Counter) -> None:
        step = max(1, total // 10)
        if done == total or done // step != last_logged[0]:
            last_logged[0] = done // step
            rate = done / max(time.monotonic() - started, 1e-6)
            failed = failure_count(counts)
            context.log.info(f"{what}: {done}/{total} clips, {rate:.1f} clips/s, {failed} failed so far")

    return log
