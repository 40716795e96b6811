"""Worker processes that die with the run that started them (Linux).

The decode workers fork from multiprocessing's forkserver. When the run is killed (kill -9, OOM killer, a
Dagster step terminated), Python gets no chance to stop them, and the forkserver and an idle worker were seen
alive 13 minutes later. The kernel's parent-death signal closes that gap: the forkserver gets SIGKILL when the
run dies, and each worker gets it when the forkserver dies.

Imported by the forkserver as a preload module (see lib.prepare._pool); `die_with_parent` is also the workers'
initializer. Importing it anywhere else does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits; exit now if the parent is already gone."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # no prctl: the workers still exit when their queue closes, only later
    if os.getppid() != parent or parent == 1:  # the parent died before the request took effect
        os._exit(1)


def _inside_forkserver() -> bool:
    return "multiprocessing.forkserver" in sys.modules and sys.argv[:1] == ["-c"]


if _inside_forkserver():
    die_with_parent()
