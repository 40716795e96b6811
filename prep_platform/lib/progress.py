"""How long work reports on itself, for every stage and source: one callback type and one place to say a line."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

# progress(done, total, counts by status so far): called after each clip (or prompt) of a stage or download.
ProgressCallback = Callable[[int, int, Counter], None]


def say_on_stderr(message: str) -> None:
    """A line for the person at the terminal (a wait on another run's lock, ...): stderr, so stdout stays the result."""
    print(message, file=sys.stderr, flush=True)
