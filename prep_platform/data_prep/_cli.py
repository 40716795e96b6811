"""Shared command-line plumbing: the parser every tool uses (options generated from the settings, defaults and exit
statuses in --help), error reporting and progress bars."""

from __future__ import annotations

import argparse
import difflib
import errno
import sys
import time
import typing
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pydantic
from tqdm import tqdm

from prep_platform.lib.profiles import PROFILES, ProfileRuleError
from prep_platform.lib.settings import NESTED_SETTINGS, PrepSettings

# Errors the core raises for bad input: shown as one clear message, not a traceback.
from prep_platform.lib.files.atomic import WriteError
from prep_platform.lib.files.hub import HubDownloadError
from prep_platform.lib.source_files import ManifestError
from prep_platform.lib.statuses import is_success
from prep_platform.lib.sources.msr_vtt import AnnotationError
from prep_platform.lib.sources.msr_vtt import SourceError
from prep_platform.lib.safe_paths import UnsafeIdError
from prep_platform.lib.scenarios import ScenarioConfigError

USER_ERRORS = (ProfileRuleError, UnsafeIdError, HubDownloadError, ManifestError, AnnotationError, SourceError, ScenarioConfigError, ValueError, FileNotFoundError)


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
        if action.required:  # a required option has no default to show ("default: None" misleads)
            return help_text if "required" in help_text else f"{help_text} (required)".strip()
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

    # A mistyped option or value is one line naming the closest valid one: argparse's usage block (10-12 lines for
    # these tools) buried the one line that mattered, and it never suggests anything.
    def error(self, message: str) -> typing.NoReturn:
        unknown = self._unknown_options(getattr(self, "_argv", []))
        if unknown and message.startswith("the following arguments are required"):
            # `--fromat x` leaves --format missing: the typo is the mistake to name, not the option it hid.
            message = self._unrecognized(unknown)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        self._argv = sys.argv[1:] if args is None else list(args)
        namespace, extras = self.parse_known_args(self._argv, namespace)
        if extras:
            self.error(self._unrecognized(extras))
        return namespace

    def _option_strings(self) -> list[str]:
        return [option for action in self._actions for option in action.option_strings]

    def _unknown_options(self, argv: list[str]) -> list[str]:
        """The tokens of `argv` that look like options this parser does not have (nor abbreviates)."""
        options = self._option_strings()
        unknown = []
        for token in argv:
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if not name.startswith("-") or name[1:2].isdigit() or name == "-":  # a value, or a negative number
                continue
            if name not in options and not (name.startswith("--") and self.allow_abbrev and
                                            sum(option.startswith(name) for option in options) == 1):
                unknown.append(token)
        return unknown

    def _unrecognized(self, extras: list[str]) -> str:
        flag = next((token for token in extras if token.startswith("-")), None)
        if flag is None:  # a stray value: no option to suggest
            return f"unrecognized argument{'s' if len(extras) > 1 else ''} {' '.join(extras)}"
        name = flag.split("=", 1)[0]
        return f"unrecognized argument {name}{did_you_mean(name, self._option_strings())}"

    def _check_value(self, action: argparse.Action, value) -> None:
        if action.choices is not None and value not in action.choices:
            choices = [str(choice) for choice in action.choices]
            raise argparse.ArgumentError(action, f"invalid choice {value!r}{did_you_mean(str(value), choices)} "
                                                 f"(choose from {', '.join(choices)})")


def existing_folder(what: str) -> Callable[[str], str]:
    """An argparse type for an input folder: one that is there, else `PATH: not found (what)`. A mistyped input
    folder was read as empty (--panda-dir: nothing labelled from it, exit 0) or told as a file missing inside it."""
    def check(text: str) -> str:
        path = Path(text).expanduser()
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{text}: not found ({what})")
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: not a folder ({what})")
        return text

    return check


def did_you_mean(word: str, candidates: list[str]) -> str:
    """'; did you mean <closest>?' when one of `candidates` is close to `word` (difflib's ratio, 0.5: `cogvidx` is
    0.58 from cogvideox-factory), else ''."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


# errno values that say the machine failed (space, quota, memory, device), whatever the input was.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EIO, errno.EROFS})


def is_environment_error(exc: BaseException) -> bool:
    """The machine, not the input: a failed write, or an error caused (at any depth) by a full disk or the like,
    e.g. a Hub download interrupted by ENOSPC, or a run whose clips all failed to be written."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, WriteError) or getattr(exc, "environment", False):
            return True
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def run_cli(main: Callable[[], int], prog: str) -> None:
    try:
        code = main()
    except (OSError, *USER_ERRORS) as exc:  # one line naming the file and the problem, never a traceback
        if not is_environment_error(exc) and not isinstance(exc, USER_ERRORS):
            raise  # an unexpected OSError is a bug to see in full
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = EXIT_ENVIRONMENT if is_environment_error(exc) else EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        code = 130
    sys.exit(code)


class SettingsParser(CliParser):
    """A parser whose options are settings (lib.settings.PrepSettings): name, type, default and help come from the
    setting, so a tool cannot default differently from the assets. Defaults include PREP_PLATFORM_* variables."""

    def __init__(self, *, default_source: str = "hub", **kwargs):
        super().__init__(**kwargs)
        self.setting_defaults = PrepSettings.from_env(default_source=default_source)
        self.setting("--data-root", "data_root")

    def profile_option(self) -> None:
        """--profile: the model profile (lib.profiles) a tool that prepares, encodes or exports works for; its frame
        and size options are checked by that profile's rules."""
        self.setting("--profile", "profile", choices=tuple(PROFILES))

    def setting(self, flag: str, name: str, *, help: str | None = None, **kwargs) -> None:
        """An option for the setting `name`; `vae.batch_size` names a field of a nested model's settings."""
        owner, _, field = name.rpartition(".")
        source = getattr(self.setting_defaults, owner) if owner else self.setting_defaults
        info, default = type(source).model_fields[field], getattr(source, field)
        # The setting's own meaning always; a tool may add what the setting means for it.
        text = info.description + (f"; here: {help}" if help else "")
        if info.annotation in (bool, bool | None):
            self.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=default,
                              help=f"{text} (default: %(default)s)", **kwargs)
            return
        base = next((t for t in typing.get_args(info.annotation) if t is not type(None)), info.annotation)  # X | None -> X
        kind = {int: int, float: float}.get(base, str)
        if owner:
            kwargs.setdefault("metavar", field.upper())
        self.add_argument(flag, dest=name, type=kind, default=default, help=f"{text} (default: %(default)s)", **kwargs)

    def parse(self, argv: list[str] | None = None) -> tuple[argparse.Namespace, PrepSettings]:
        """The arguments, and the settings they ask for."""
        args = self.parse_args(argv)
        return args, self.settings(args)

    def settings(self, args: argparse.Namespace) -> PrepSettings:
        """The settings these arguments ask for (what is not an option keeps its default)."""
        values = self.setting_defaults.model_dump()
        for name, value in vars(args).items():
            owner, _, field = name.rpartition(".")
            if owner in NESTED_SETTINGS:
                values[owner][field] = value
            elif name in PrepSettings.model_fields:
                values[name] = value
        try:
            return self.setting_defaults.model_validate(values)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            dest = ".".join(str(part) for part in first["loc"][:2]) if first["loc"][0] in NESTED_SETTINGS else first["loc"][0]
            flag = next((a.option_strings[0] for a in self._actions if a.dest == dest), dest)
            self.error(f"{flag}: {first['msg'].removeprefix('Value error, ')} (got {first.get('input')!r})")


class ProgressBars:
    """tqdm bars fed by the core's (done, total, status counts) callback: items/s, ETA, and the counts so far by
    the same names the summary uses (done, then each other status: failed, unavailable, too_short...). One bar at a
    time: asking for the next closes the previous, which prints its final line once."""

    def __init__(self, prefix: str = ""):
        self._prefix = prefix
        self._bar: tqdm | None = None
        self._drawn: float | None = None  # when the bar was last drawn (monotonic seconds)

    def __call__(self, description: str, unit: str = "clip") -> Callable[[int, int, Counter], None]:
        self.close()
        self._drawn = None
        label = f"{self._prefix}{description}"

        def update(done: int, total: int, counts: Counter) -> None:
            if self._bar is None:
                # Items already done when the first report comes (current caches, skipped prompts) are the
                # bar's start, not part of its rate: otherwise the first rate reads as 200,000 items/s.
                self._bar = tqdm(total=total, initial=done, desc=label, unit=unit, file=sys.stderr)
            self._bar.n = done
            others = {status: n for status, n in sorted(counts.items()) if not is_success(status) and n}
            self._bar.set_postfix(done=done - sum(others.values()), **others, refresh=False)
            # At most ten lines a second (a stage reporting every clip of 10,000 would print each one into a log);
            # the final state is printed by close(), once.
            now = time.monotonic()
            if done < total and (self._drawn is None or now - self._drawn >= 0.1):
                self._bar.refresh()
                self._drawn = now

        return update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def clip_progress(description: str) -> Iterator[Callable[[int, int, Counter], None]]:
    """One progress bar for the duration of a block."""
    bars = ProgressBars()
    try:
        yield bars(description)
    finally:
        bars.close()


def non_negative_int(text: str) -> int:
    """An argparse type for counts such as --limit: a negative one is refused (a slice by -1 silently drops one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: give 0 or more")
    return value
