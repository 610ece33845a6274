"""``geocode-dataflow emulator --provider amazon-location``: run the emulator until Ctrl-C.

``run_emulator(args)`` is called by the project CLI (which defines the arguments; any it does
not define take the defaults below, and so does an argument left at None); ``python -m
location_emulator`` uses ``build_parser()`` here to offer the same options standalone.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from .config import DEFAULT_RATE_LIMIT, FaultConfig, LocationEmulatorConfig
from .server import LocationEmulatorServer

ENDPOINT_ENV = "AWS_ENDPOINT_URL_GEO_PLACES"  # botocore's service-specific endpoint variable
DEFAULT_PORT = 8787


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m location_emulator",
        description="Run a local Amazon Location Service Places v2 emulator (offline geocoder).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port; 0 = any free port")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=DEFAULT_RATE_LIMIT,
        metavar="RPS",
        help="accepted requests per sliding second, both operations; 0 = unlimited "
        "(default: %(default)s)",
    )
    parser.add_argument("--throttle-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--delay-seconds", type=float, default=0.0, metavar="S")
    parser.add_argument("--delay-rate", type=float, default=1.0, metavar="F")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="K",
        help="accepted ?key= value, repeatable (default: none, SigV4 only)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> LocationEmulatorConfig:
    return LocationEmulatorConfig(
        api_keys=set(_arg(args, "api_key", []) or []),
        rate_limit=float(_arg(args, "rate_limit", DEFAULT_RATE_LIMIT)),
        faults=FaultConfig(
            throttle_rate=float(_arg(args, "throttle_rate", 0.0)),
            error_rate=float(_arg(args, "error_rate", 0.0)),
            delay_seconds=float(_arg(args, "delay_seconds", 0.0)),
            delay_rate=float(_arg(args, "delay_rate", 1.0)),
        ),
        seed=int(_arg(args, "seed", 0)),
    )


def run_emulator(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until interrupted (or ``stop`` is set); print where and how to reach the emulator.

    Returns an exit code.
    """
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = _arg(args, "host", "127.0.0.1"), int(_arg(args, "port", DEFAULT_PORT))
    try:
        server = LocationEmulatorServer(config, host=host, port=port).start()
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    limit = f"{config.rate_limit} requests/s" if config.rate_limit else "unlimited"
    print(f"Amazon Location (geo-places) emulator listening on {server.url}", flush=True)
    print("  operations: POST /v2/geocode, POST /v2/reverse-geocode")
    print(f"  rate limit: {limit} (sliding 1 s window, both operations together)")
    print("  point boto3 at it (any credentials; the SigV4 scope must name geo-places):")
    print(f"    export {ENDPOINT_ENV}={server.url}")
    print(f'    boto3.client("geo-places", region_name="us-east-1", endpoint_url="{server.url}")')
    if config.api_keys:
        # A key may be a real one: say how many, never which.
        count = len(config.api_keys)
        print(f"  API keys: {count} accepted as ?key= (Key=... with an UNSIGNED client)")
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


def main(argv: list[str] | None = None) -> int:
    return run_emulator(build_parser().parse_args(argv))


def _arg(args: argparse.Namespace, name: str, default: Any) -> Any:
    """The argument, or ``default`` when the namespace lacks it or left it at None."""
    value = getattr(args, name, None)
    return default if value is None else value
