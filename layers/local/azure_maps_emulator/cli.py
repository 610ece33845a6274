"""``geocode-dataflow emulator --provider azure-maps``: run the emulator until Ctrl-C.

``run_emulator(args)`` is called by the project CLI (which defines the arguments; any it does
not define take the defaults below, and so does an argument left at None); ``python -m
azure_maps_emulator`` uses ``build_parser()`` here to offer the same options standalone.
"""

from __future__ import annotations

import argparse

from emulator_support.cli import (
    EmulatorCli,
    accepted_keys,
    add_key_argument,
    add_rate_limit_argument,
    arg,
    emulator_parser,
)

from .config import DEFAULT_RATE_LIMIT, AzureMapsEmulatorConfig, FaultConfig
from .server import AzureMapsEmulatorServer

KEY_ENV = "AZURE_MAPS_KEY"
DEFAULT_PORT = 8788


def build_parser() -> argparse.ArgumentParser:
    parser = emulator_parser(
        "python -m azure_maps_emulator",
        "Run a local Azure Maps Geocoding Batch emulator (offline geocoder).",
        default_port=DEFAULT_PORT,
    )
    add_key_argument(
        parser,
        f"accepted subscription key, repeatable (default: ${KEY_ENV}, else a generated key, "
        "printed)",
    )
    add_rate_limit_argument(parser, DEFAULT_RATE_LIMIT)
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
    return AzureMapsEmulatorConfig(
        keys=set(accepted_keys(args, KEY_ENV)),
        rate_limit=float(arg(args, "rate_limit", DEFAULT_RATE_LIMIT)),
        faults=FaultConfig(
            throttle_rate=float(arg(args, "throttle_rate", 0.0)),
            error_rate=float(arg(args, "error_rate", 0.0)),
            timeout_rate=float(arg(args, "timeout_rate", 0.0)),
            delay_seconds=float(arg(args, "delay_seconds", 0.0)),
            delay_rate=float(arg(args, "delay_rate", 1.0)),
            timeout_over_items=arg(args, "timeout_over_items", None),
        ),
        seed=int(arg(args, "seed", 0)),
    )


def _banner(
    server: AzureMapsEmulatorServer, config: AzureMapsEmulatorConfig, args: argparse.Namespace
) -> None:
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


CLI = EmulatorCli(build_parser, config_from_args, AzureMapsEmulatorServer, DEFAULT_PORT, _banner)
run_emulator = CLI.run  # the project CLI calls run_emulator(args); tests may pass stop=
main = CLI.main  # python -m azure_maps_emulator
