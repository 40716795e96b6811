"""Shared command-line plumbing: error reporting and progress bars."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

# Errors the core raises for bad input: shown as one clear message, not a traceback.
from prep_platform.lib.hub import HubDownloadError
from prep_platform.lib.manifest import ManifestError, failure_count
from prep_platform.lib.msr_vtt import AnnotationError
from prep_platform.lib.msr_vtt_download import SourceError
from prep_platform.lib.scenarios import ScenarioConfigError

USER_ERRORS = (HubDownloadError, ManifestError, AnnotationError, SourceError, ScenarioConfigError, ValueError, FileNotFoundError)


def run_cli(main: Callable[[], int], prog: str) -> None:
    try:
        code = main()
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        code = 130
    sys.exit(code)


@contextmanager
def clip_progress(description: str) -> Iterator[Callable[[int, int, Counter], None]]:
    """A tqdm bar fed by the core's (done, total, status counts) callback: clips/s, ETA, failures so far."""
    bar: tqdm | None = None

    def update(done: int, total: int, counts: Counter) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=description, unit="clip", file=sys.stderr)
        bar.n = done
        failed = failure_count(counts)
        bar.set_postfix(done=done - failed, failed=failed, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
