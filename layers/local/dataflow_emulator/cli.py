"""``geocode-dataflow emulator``: run the emulator in the foreground until Ctrl-C.

``run_emulator(args)`` is called by the project CLI (which defines the arguments); ``python -m
dataflow_emulator`` uses ``build_parser()`` here to offer the same options standalone.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading

from .config import QUIRKS, EmulatorConfig
from .server import EmulatorServer

KEY_ENV = "BING_MAPS_KEY"
ENDPOINT_ENV = "DATAFLOW_ENDPOINT"  # what the project CLI reads


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dataflow_emulator",
        description="Run a local Bing Maps Geocode Dataflow emulator (offline geocoder).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 = any free port")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="K",
        help=f"accepted key, repeatable (default: ${KEY_ENV} or a generated one)",
    )
    parser.add_argument("--processing-seconds", type=float, default=2.0, metavar="S")
    parser.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help=f"enable a quirk of the real service: {', '.join(sorted(QUIRKS))}",
    )
    parser.add_argument("--max-pending-jobs", type=int, default=10, metavar="N")
    parser.add_argument("--max-jobs-per-day", type=int, default=50, metavar="N")
    parser.add_argument("--retention-days", type=float, default=14, metavar="D")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    keys = list(getattr(args, "key", None) or [])
    if not keys and os.environ.get(KEY_ENV, "").strip():
        keys = [os.environ[KEY_ENV].strip()]
    if not keys:
        keys = [secrets.token_hex(16)]
        args.key = keys
        args.generated_key = True
    return EmulatorConfig(
        keys=set(keys),
        processing_seconds=float(getattr(args, "processing_seconds", 2.0)),
        quirks=set(getattr(args, "quirk", None) or []),
        max_pending_jobs=int(getattr(args, "max_pending_jobs", 10)),
        max_jobs_per_day=int(getattr(args, "max_jobs_per_day", 50)),
        retention_days=float(getattr(args, "retention_days", 14)),
        seed=int(getattr(args, "seed", 0) or 0),
    )


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted; print where and how to reach the emulator. Returns an exit code."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = getattr(args, "host", "127.0.0.1"), int(getattr(args, "port", 8080))
    try:
        server = EmulatorServer(config, host=host, port=port).start()
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    key = sorted(config.keys)[0]
    # A key the user chose may be a real one: never print it, only a generated one.
    generated = bool(getattr(args, "generated_key", False))
    shown = key if generated else f"{key[:2]}... (the key you gave, {len(key)} characters)"
    print(f"Geocode Dataflow emulator listening on {server.url}", flush=True)
    print(f"  endpoint:  {server.base_url}")
    more = f" (+{len(config.keys) - 1} more)" if len(config.keys) > 1 else ""
    print(f"  key:       {shown}{more}")
    print("  point a client at it:")
    key_export = f" {KEY_ENV}={key}" if generated else ""
    print(f"    export {ENDPOINT_ENV}={server.base_url}{key_export}")
    print("    geocode-dataflow run FILE --out DIR   (or --endpoint/--key on any command)")
    print(f'    DataflowClient(key, endpoint="{server.base_url}")')
    print("  or use it as an HTTP proxy for clients that hard-code the service:")
    print(f"    HTTP_PROXY={server.url}   (http://spatial.virtualearth.net/... only; no https)")
    print(f"  control: {server.url}/emulator/state | /emulator/faults | /emulator/clock")
    if config.quirks:
        print(f"  quirks:  {', '.join(sorted(config.quirks))}")
    print("Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (docker stop, kill) ends it as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_emulator(build_parser().parse_args(argv))
