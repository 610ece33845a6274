"""Running an emulator in the foreground until Ctrl-C (or SIGTERM), for each emulator's CLI.

Each emulator keeps its own arguments, configuration and banner; ``EmulatorCli`` does the rest:
build the configuration, listen, print the banner, wait, stop cleanly.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

ConfigT = TypeVar("ConfigT")
ServerT = TypeVar("ServerT", bound="StartableServer")


class StartableServer(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


def arg(args: argparse.Namespace, name: str, default: Any) -> Any:
    """The argument, or ``default`` when the namespace lacks it or left it at None."""
    value = getattr(args, name, None)
    return default if value is None else value


def accepted_keys(args: argparse.Namespace, env_name: str) -> list[str]:
    """``--key`` values, else ``$env_name``, else one generated key.

    A generated key is written back as ``args.key`` with ``args.generated_key`` set, so the
    banner may print it: a key the user chose may be a real one and is never printed.
    """
    keys = list(arg(args, "key", []) or [])
    if not keys and os.environ.get(env_name, "").strip():
        keys = [os.environ[env_name].strip()]
    if not keys:
        keys = [secrets.token_hex(16)]
        args.key = keys
        args.generated_key = True
    return keys


@dataclass(frozen=True)
class EmulatorCli(Generic[ConfigT, ServerT]):
    """What the serve loop needs to know about one emulator: its arguments, how they become a
    configuration, its server and its banner."""

    build_parser: Callable[[], argparse.ArgumentParser]
    config_from_args: Callable[[argparse.Namespace], ConfigT]
    server_type: Callable[..., ServerT]
    default_port: int
    banner: Callable[[ServerT, ConfigT, argparse.Namespace], None]
    # Keyword arguments of the server beyond host and port (e.g. the https proxy's); raises
    # ValueError for a bad combination of arguments.
    server_options: Callable[[argparse.Namespace], dict[str, Any]] = lambda args: {}

    def main(self, argv: list[str] | None = None) -> int:
        return self.run(self.build_parser().parse_args(argv))

    def run(self, args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
        """Serve until interrupted (or ``stop`` is set). Returns an exit code: 2 for a bad
        configuration, 1 when the server cannot start (an address in use, a file that
        cannot be written), else 0."""
        try:
            config = self.config_from_args(args)
            options = self.server_options(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        host, port = arg(args, "host", "127.0.0.1"), int(arg(args, "port", self.default_port))
        try:
            server = self.server_type(config, host=host, port=port, **options)
            server.start()
        except OSError as exc:
            print(f"error: cannot start on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        self.banner(server, config, args)
        print("Ctrl-C to stop.", flush=True)
        stopped = stop if stop is not None else threading.Event()
        on_main_thread = threading.current_thread() is threading.main_thread()
        if on_main_thread:
            # SIGTERM (docker stop, kill) ends it as cleanly as Ctrl-C does.
            previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            server.stop()
            if on_main_thread:
                signal.signal(signal.SIGTERM, previous)
        return 0


def emulator_parser(prog: str, description: str, *, default_port: int) -> argparse.ArgumentParser:
    """A parser with the options every emulator takes first: ``--host`` and ``--port``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port, help="port; 0 = any free port")
    return parser


def add_key_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--key K``, repeatable: read back with ``accepted_keys``."""
    parser.add_argument("--key", action="append", default=[], metavar="K", help=help_text)


def add_rate_limit_argument(parser: argparse.ArgumentParser, default: float) -> None:
    """``--rate-limit RPS``: one sliding-second quota for both operations."""
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=default,
        metavar="RPS",
        help="accepted requests per sliding second, both operations; 0 = unlimited "
        "(default: %(default)s)",
    )
