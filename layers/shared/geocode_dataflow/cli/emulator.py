"""``geocode-dataflow emulator``: a provider's emulator in the foreground until Ctrl-C.

The emulators are local-only packages (the [local] extra), imported when the command runs.
"""

from __future__ import annotations

import argparse

from geocode_dataflow.cli.common import (
    KEY_ENV,
    Commands,
    add_command,
    fraction,
    non_negative_float,
    optional,
    positive_float,
)
from geocode_dataflow.cli.provider_options import (
    AMAZON_LOCATION,
    BING_DATAFLOW,
    ProviderOption,
    add_provider_option,
    add_provider_options,
    resolve_provider_options,
)

# provider -> (module with run_emulator(args), what it is, default port)
EMULATORS = {
    BING_DATAFLOW: ("dataflow_emulator.cli", "the Dataflow emulator", 8080),
    AMAZON_LOCATION: ("location_emulator.cli", "the Amazon Location emulator", 8787),
}

OPTIONS = (
    ProviderOption(
        BING_DATAFLOW,
        "--key",
        [],
        {
            "action": "append",
            "metavar": "K",
            "help": f"accepted key, repeatable (default: ${KEY_ENV}, else a generated key, "
            "printed)",
        },
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--processing-seconds",
        2.0,
        {"type": float, "metavar": "S", "help": "time a job stays Pending (default: {default})"},
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--quirk",
        [],
        {
            "action": "append",
            "metavar": "NAME",
            "help": "enable a documented quirk of the real service, repeatable",
        },
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--max-pending-jobs",
        10,
        {"type": int, "metavar": "N", "help": "default: {default}"},
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--max-jobs-per-day",
        50,
        {"type": int, "metavar": "N", "help": "default: {default}"},
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--retention-days",
        14,
        {"type": float, "metavar": "D", "help": "default: {default}"},
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--api-key",
        [],
        {
            "action": "append",
            "metavar": "K",
            "help": "accepted API key, repeatable (SigV4-signed requests are accepted too)",
        },
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--rate-limit",
        100.0,
        {
            "type": positive_float,
            "metavar": "R",
            "help": "requests per second the emulated account allows (default: {default:g})",
        },
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--throttle-rate",
        0.0,
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests answered ThrottlingException (429) (default: {default:g})",
        },
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--error-rate",
        0.0,
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests answered InternalServerException (500) "
            "(default: {default:g})",
        },
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--delay-seconds",
        0.0,
        {
            "type": non_negative_float,
            "metavar": "S",
            "help": "extra latency of a delayed request (default: {default:g})",
        },
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--delay-rate",
        1.0,
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests delayed by --delay-seconds (default: {default:g})",
        },
    ),
)

NOTES = """\
providers:
  bing-dataflow    the Bing Maps Geocode Dataflow API (default; port 8080); it prints the
                   DATAFLOW_ENDPOINT and key to use with the other commands
  amazon-location  the Amazon Location Places v2 API, Geocode and ReverseGeocode (port 8787);
                   point a boto3 geo-places client at it with endpoint_url

"""


def register(commands: Commands, parents: list[argparse.ArgumentParser]) -> None:
    emulator = add_command(
        commands,
        "emulator",
        "run a provider's local emulator (needs the [local] extra)",
        cmd_emulator,
        parents,
        notes=NOTES,
    )
    add_provider_option(emulator, "the API to emulate")
    emulator.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    emulator.add_argument(
        "--port",
        type=int,
        default=None,
        help="port (default: 8080 for bing-dataflow, 8787 for amazon-location; 0: any free port)",
    )
    emulator.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    add_provider_options(emulator, OPTIONS)


def cmd_emulator(args: argparse.Namespace) -> int:
    # Usage errors first, so they are reported even without the [local] extra.
    resolve_provider_options(args, OPTIONS)
    module, what, port = EMULATORS[args.provider]
    if args.port is None:
        args.port = port
    # The Dataflow emulator resolves an empty --key list itself: $BING_MAPS_KEY, else a
    # generated key that it prints with the endpoint.
    run_emulator = optional(module, "run_emulator", what)
    return int(run_emulator(args) or 0)
