"""What every ``geocode-dataflow`` command shares: exit codes, the one-line error, the shared
options, the mapping from the package's errors to exit codes, and logging setup."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

from geocode_dataflow.client import DEFAULT_ENDPOINT
from geocode_dataflow.errors import (
    GeocodeDataflowError,
    InsecureEndpointError,
    InvalidFeedError,
    JobAbortedError,
    QuotaExceededError,
    ServiceUnavailableError,
)

PROG = "geocode-dataflow"
KEY_ENV = "BING_MAPS_KEY"
ENDPOINT_ENV = "DATAFLOW_ENDPOINT"

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_ABORTED = 4
EXIT_NOT_FINISHED = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130

EPILOG = f"""\
environment:
  {KEY_ENV}        the Bing Maps key (preferred over --key, which other users can see in `ps`)
  {ENDPOINT_ENV}    the Dataflow base URL (default {DEFAULT_ENDPOINT});
                       plain http is accepted only for loopback, e.g. the emulator:
                       http://127.0.0.1:8080/REST/v1/Dataflows

exit codes:
  {EXIT_OK}    success (validate: the file is valid; warnings allowed); also when the reader of
       the output goes away (`... | head`)
  {EXIT_INVALID}    the input file is invalid (nothing was sent)
  {EXIT_USAGE}    usage or configuration error (bad arguments, no key, insecure endpoint,
       unreadable file, missing optional component)
  {EXIT_REJECTED}    the service rejected the request (bad request, bad key, unknown job,
       unreadable answer)
  {EXIT_ABORTED}    the job ended Aborted
  {EXIT_NOT_FINISHED}    the job is not finished (still pending, or --timeout reached); it keeps
       running on the service
  {EXIT_UNAVAILABLE}    the service is unavailable or over quota, even after retries: try later
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a job already created keeps running
"""

Handler = Callable[[argparse.Namespace], int]
# What each command group registers its commands on.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """An expected failure: printed as one line, mapped to an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- parser pieces ----------------------------------------------------------------------------


def verbose_options() -> argparse.ArgumentParser:
    """The parent parser of every command: ``-v``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: HTTP)"
    )
    return parent


def add_command(
    commands: Commands,
    name: str,
    help_text: str,
    handler: Handler,
    parents: list[argparse.ArgumentParser],
    notes: str = "",
) -> argparse.ArgumentParser:
    """One subcommand with the shared epilog (after the command's own ``notes``, if any)."""
    sub = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        parents=parents,
        epilog=notes + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(handler=handler)
    return sub


def positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def optional(module: str, function: str, what: str) -> Callable[[argparse.Namespace], Any]:
    """``module.function`` from a local-only package, imported now (never at CLI import)."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise CliError(
            f"{what} is not available ({exc}): install the [local] extra, "
            "e.g. pip install 'geocode-dataflow-pipeline[local]'"
        ) from None
    entry = getattr(loaded, function, None)
    if entry is None:
        raise CliError(f"{what} is not available: {module}.{function} is missing")
    return entry  # type: ignore[no-any-return]


# --- running a command ------------------------------------------------------------------------


def run_handler(handler: Handler, args: argparse.Namespace) -> int:
    """The command's exit code; every expected failure becomes one error line on stderr."""
    code = _run(handler, args)
    with tolerate_closed_stdout():  # what is still buffered, before the exit code is final
        sys.stdout.flush()
    return code


def _run(handler: Handler, args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader of stdout went away (`... | head`): what it wanted, it has. A raw
        # BrokenPipeError comes from our own streams only: requests and botocore wrap a
        # socket's in their connection errors.
        discard_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    except CliError as exc:
        fail(str(exc))
        return exc.exit_code
    except GeocodeDataflowError as exc:
        fail(str(exc))
        return exit_code_for(exc)
    except OSError as exc:
        fail(describe_os_error(exc))
        return EXIT_USAGE


def exit_code_for(exc: GeocodeDataflowError) -> int:
    if isinstance(exc, InvalidFeedError):
        return EXIT_INVALID
    if isinstance(exc, InsecureEndpointError):
        return EXIT_USAGE
    if isinstance(exc, JobAbortedError):
        return EXIT_ABORTED
    if isinstance(exc, ServiceUnavailableError | QuotaExceededError):
        return EXIT_UNAVAILABLE
    # Bad request, bad key, unknown job, unreadable answer, and anything not named above.
    return EXIT_REJECTED


def describe_os_error(exc: OSError) -> str:
    if exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc)


@contextmanager
def tolerate_closed_stdout() -> Iterator[None]:
    """Output that may go to a reader that stops early (``... | head``): the rest of the block
    is skipped quietly, and the command still ends with its own exit code."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()


def discard_stdout() -> None:
    """Python's recipe for a closed stdout: devnull in its place, so that the flush at exit
    does not fail again with "Exception ignored ... BrokenPipeError"."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("geocode_dataflow").setLevel(level)
    # urllib3 warns at every retry ("Retrying (BoundedRetry(total=4, ...))"), before the
    # client's one clear error says the same: shown with -v only.
    logging.getLogger("urllib3").setLevel(logging.ERROR if verbosity <= 0 else level)


def note(message: str) -> None:
    print(message, file=sys.stderr)


def fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
