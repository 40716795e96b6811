"""The decode worker pool both stages use, and worker processes that die with the run that started them.

Workers are started with forkserver (never fork: CUDA state must not be forked) from a server that has
imported the decoding stack once, so starting one costs milliseconds.

The decode workers fork from multiprocessing's forkserver. When the run is killed (kill -9, OOM killer, a
Dagster step terminated), Python gets no chance to stop them, and the forkserver and an idle worker were seen
alive 13 minutes later. The kernel's parent-death signal closes that gap: the forkserver gets SIGKILL when the
run dies, and each worker gets it when the forkserver dies.

This module is a preload module of the forkserver (see `worker_pool`): importing it there arms the guard; importing
it anywhere else does nothing.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

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


def _worker_init() -> None:
    die_with_parent()  # the parent is the forkserver, which itself dies with the run
    # Ctrl-C reaches the whole process group. The run answers it in one line ("interrupted; run the same command
    # again"); a worker that took it too printed a KeyboardInterrupt traceback of its own (~20 lines each). The
    # workers leave it to the run, and go when it shuts the pool down (or dies: see die_with_parent).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One thread per worker process: the parallelism is across clips.
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def worker_pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["prep_platform.lib.frames.read", "prep_platform.lib.frames.scan", "prep_platform.lib.frames.workers"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
