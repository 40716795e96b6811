"""Shared command-line plumbing: the parser every tool uses (defaults and exit statuses in --help), error
reporting and progress bars."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

# Errors the core raises for bad input: shown as one clear message, not a traceback.
from prep_platform.lib.atomic import WriteError
from prep_platform.lib.hub import HubDownloadError
from prep_platform.lib.manifest import ManifestError, failure_count
from prep_platform.lib.msr_vtt import AnnotationError
from prep_platform.lib.msr_vtt_download import SourceError
from prep_platform.lib.safe_paths import UnsafeIdError
from prep_platform.lib.scenarios import ScenarioConfigError

USER_ERRORS = (UnsafeIdError, HubDownloadError, ManifestError, AnnotationError, SourceError, ScenarioConfigError, ValueError, FileNotFoundError)


# Exit statuses, the same for every tool (and printed by --help).
EXIT_OK = 0  # done; clips that failed for a reason of their own (a truncated file) are recorded, not an error
EXIT_USAGE = 2  # bad arguments or bad input files: nothing (more) was done
EXIT_ENVIRONMENT = 3  # the machine failed some clips (disk full, out of memory, a worker killed): fix, rerun, it resumes
EXIT_STATUS_HELP = (
    "exit status: 0 done (clips that failed for a reason of their own, e.g. a truncated file, are recorded in the "
    "manifests); 2 bad arguments or input; 3 some clips failed for a reason of the machine (disk full, out of "
    "memory, a worker killed): fix it and run the same command again, it resumes; 130 interrupted."
)


class _ShowEveryDefault(argparse.ArgumentDefaultsHelpFormatter):
    """--help lists every option with its default, including options whose help text does not mention it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text.lower():  # already says it, often better than the bare value ("$HF_ENDPOINT ...")
            return help_text
        return super()._get_help_string(action)


class CliParser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", _ShowEveryDefault)
        kwargs.setdefault("epilog", EXIT_STATUS_HELP)
        super().__init__(**kwargs)

    def add_argument(self, *args, **kwargs):
        # argparse prints nothing, not even the default, for an option without help: give each one a line.
        if not kwargs.get("help") and args and str(args[0]).startswith("-"):
            kwargs["help"] = "default: %(default)s"
        return super().add_argument(*args, **kwargs)


def run_cli(main: Callable[[], int], prog: str) -> None:
    try:
        code = main()
    except WriteError as exc:  # disk full and the like: one line naming the file, not a traceback
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = EXIT_ENVIRONMENT
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = EXIT_USAGE
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
