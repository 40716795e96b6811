"""The per-clip status vocabulary every stage shares, and the counts computed from it (written once here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

OK = "ok"
# Per-clip statuses that are not failures, across every stage (probe, frames, latents).
SUCCESS_STATUSES = frozenset({OK, "encoded", "skipped", "moved"})
# Of those, the latent statuses that leave a current cache file on disk.
CACHED_STATUSES = frozenset({"encoded", "skipped", "moved"})
# Clips left out by a data policy rather than failed: no shot holds a training window. They are counted and checked
# on their own (a WARN check on the dropped share), not in the failed share that blocks a stage.
NO_CLEAN_WINDOW = "no_clean_window"
DROPPED_STATUSES = frozenset({NO_CLEAN_WINDOW})
# The `cause` of a failure that says nothing about the clip (disk full, out of memory, a worker killed): a rerun
# after fixing the machine succeeds. Failures without it are the data's (a truncated clip) and stay failures.
ENVIRONMENT = "environment"


def is_success(status: str) -> bool:
    return status in SUCCESS_STATUSES


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(statuses).items()))


def failure_count(counts: Mapping[str, int]) -> int:
    """Clips whose status is a failure, from per-status counts (any stage); policy drops are not failures."""
    return sum(n for status, n in counts.items() if not is_success(status) and status not in DROPPED_STATUSES)


def failed_share(counts: Mapping[str, int]) -> float:
    """The share of clips that failed. Nothing to do is nothing failed: 0.0 for no clips. (A stage that should
    have had clips and has none says so with its own problem, not with this share.)"""
    total = sum(counts.values())
    return failure_count(counts) / total if total else 0.0


def environment_failures(rows: Iterable[dict]) -> list[dict]:
    """Per-clip rows (any stage) that failed for an environment reason."""
    return [row for row in rows if row.get("cause") == ENVIRONMENT and not is_success(row.get("status", ""))]
