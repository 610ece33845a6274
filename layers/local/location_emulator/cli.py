"""``geocode-dataflow emulator --provider amazon-location``: run the emulator until Ctrl-C.

``run_emulator(args)`` is called by the project CLI (which defines the arguments; any it does
not define take the defaults below, and so does an argument left at None); ``python -m
location_emulator`` uses ``build_parser()`` here to offer the same options standalone.
"""

from __future__ import annotations

import argparse

from emulator_support.cli import EmulatorCli, add_rate_limit_argument, arg, emulator_parser

from .config import DEFAULT_RATE_LIMIT, FaultConfig, LocationEmulatorConfig
from .server import LocationEmulatorServer

ENDPOINT_ENV = "AWS_ENDPOINT_URL_GEO_PLACES"  # botocore's service-specific endpoint variable
DEFAULT_PORT = 8787


def build_parser() -> argparse.ArgumentParser:
    parser = emulator_parser(
        "python -m location_emulator",
        "Run a local Amazon Location Service Places v2 emulator (offline geocoder).",
        default_port=DEFAULT_PORT,
    )
    add_rate_limit_argument(parser, DEFAULT_RATE_LIMIT)
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
        api_keys=set(arg(args, "api_key", []) or []),
        rate_limit=float(arg(args, "rate_limit", DEFAULT_RATE_LIMIT)),
        faults=FaultConfig(
            throttle_rate=float(arg(args, "throttle_rate", 0.0)),
            error_rate=float(arg(args, "error_rate", 0.0)),
            delay_seconds=float(arg(args, "delay_seconds", 0.0)),
            delay_rate=float(arg(args, "delay_rate", 1.0)),
        ),
        seed=int(arg(args, "seed", 0)),
    )


def _banner(
    server: LocationEmulatorServer, config: LocationEmulatorConfig, args: argparse.Namespace
) -> None:
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


CLI = EmulatorCli(build_parser, config_from_args, LocationEmulatorServer, DEFAULT_PORT, _banner)
run_emulator = CLI.run  # the project CLI calls run_emulator(args); tests may pass stop=
main = CLI.main  # python -m location_emulator
