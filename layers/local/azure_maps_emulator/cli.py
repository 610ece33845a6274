"""``geocode-dataflow emulator --provider azure-maps``: run the emulator until Ctrl-C.

``run_emulator(args)`` is called by the project CLI (which defines the arguments; any it does
not define take the defaults below, and so does an argument left at None); ``python -m
azure_maps_emulator`` uses ``build_parser()`` here to offer the same options standalone.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from typing import Any

from .config import DEFAULT_RATE_LIMIT, AzureMapsEmulatorConfig, FaultConfig
from .server import AzureMapsEmulatorServer

KEY_ENV = "AZURE_MAPS_KEY"
DEFAULT_PORT = 8788


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m azure_maps_emulator",
        description="Run a local Azure Maps Geocoding Batch emulator (offline geocoder).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port; 0 = any free port")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="K",
        help=f"accepted subscription key, repeatable (default: ${KEY_ENV}, else a generated "
        "key, printed)",
    )
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
    parser.add_argument("--timeout-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--delay-seconds", type=float, default=0.0, metavar="S")
    parser.add_argument("--delay-rate", type=float, default=1.0, metavar="F")
    parser.add_argument(
        "--timeout-over-items",
        type=int,
        default=None,
        metavar="N",
        help="answer 408 to every batch of more than N items",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    return parser


def config_from_args(args: argparse.Namespace) -> AzureMapsEmulatorConfig:
    """The configuration; with no ``--key``, ``$AZURE_MAPS_KEY`` or a generated key (then
    ``args.generated_key`` is set, so the key may be printed)."""
    keys = list(_arg(args, "key", []) or [])
    if not keys and os.environ.get(KEY_ENV, "").strip():
        keys = [os.environ[KEY_ENV].strip()]
    if not keys:
        keys = [secrets.token_hex(16)]
        args.key = keys
        args.generated_key = True
    return AzureMapsEmulatorConfig(
        keys=set(keys),
        rate_limit=float(_arg(args, "rate_limit", DEFAULT_RATE_LIMIT)),
        faults=FaultConfig(
            throttle_rate=float(_arg(args, "throttle_rate", 0.0)),
            error_rate=float(_arg(args, "error_rate", 0.0)),
            timeout_rate=float(_arg(args, "timeout_rate", 0.0)),
            delay_seconds=float(_arg(args, "delay_seconds", 0.0)),
            delay_rate=float(_arg(args, "delay_rate", 1.0)),
            timeout_over_items=_arg(args, "timeout_over_items", None),
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
        server = AzureMapsEmulatorServer(config, host=host, port=port).start()
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    limit = f"{config.rate_limit} requests/s" if config.rate_limit else "unlimited"
    generated = bool(getattr(args, "generated_key", False))
    # A key the user chose may be a real one: never print it, only a generated one.
    key = next(iter(config.keys)) if generated else "<your key>"
    print(f"Azure Maps Geocoding Batch emulator listening on {server.url}", flush=True)
    print("  operations: POST /geocode:batch, POST /reverseGeocode:batch")
    print(f"  api-version: {', '.join(config.api_versions)}")
    print(f"  rate limit: {limit} (sliding 1 s window, both operations together)")
    if generated:
        print(f"  key:        {key}   (generated; header subscription-key)")
    else:
        count = len(config.keys)
        print(f"  keys:       {count} accepted (as given; not shown), header subscription-key")
    print("  point the azure-maps-search client at it:")
    if generated:
        print(f"    export {KEY_ENV}={key}")
    print(f'    MapsSearchClient(AzureKeyCredential(key), endpoint="{server.url}")')
    faults = config.faults
    if any((faults.throttle_rate, faults.error_rate, faults.timeout_rate, faults.delay_seconds)):
        print(
            f"  faults: throttle {faults.throttle_rate:g}, error {faults.error_rate:g}, "
            f"timeout {faults.timeout_rate:g}, delay {faults.delay_seconds:g} s x "
            f"{faults.delay_rate:g} (seed {config.seed})"
        )
    if faults.timeout_over_items is not None:
        print(f"  408 for every batch of more than {faults.timeout_over_items} items")
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
