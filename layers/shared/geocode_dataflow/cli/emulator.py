"""``geocode-dataflow emulator``: a provider's emulator in the foreground until Ctrl-C.

The emulators are local-only packages (the [local] extra), imported when the command runs.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field
from typing import Any

from geocode_dataflow.cli.common import (
    KEY_ENV,
    CliError,
    Commands,
    add_command,
    fraction,
    non_negative_float,
    optional,
    positive_float,
)
from geocode_dataflow.cli.provider_options import (
    AMAZON_LOCATION,
    AZURE_MAPS,
    BING_DATAFLOW,
    ProviderOption,
    add_provider_option,
    add_provider_options,
    resolve_provider_options,
)

AZURE_KEY_ENV = "AZURE_MAPS_KEY"  # read by the Azure Maps emulator when no --key is given

# provider -> (module with run_emulator(args), what it is, default port)
EMULATORS = {
    BING_DATAFLOW: ("dataflow_emulator.cli", "the Dataflow emulator", 8080),
    AMAZON_LOCATION: ("location_emulator.cli", "the Amazon Location emulator", 8787),
    AZURE_MAPS: ("azure_maps_emulator.cli", "the Azure Maps emulator", 8788),
}


@dataclass(frozen=True)
class SharedOption:
    """An option several providers understand, each with its own default (``ProviderOption``
    is one provider's). ``{default}`` in the help text shows the defaults."""

    flag: str
    defaults: dict[str, Any]  # provider -> default
    keywords: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


OPTIONS = (
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
        BING_DATAFLOW,
        "--allow-data-location",
        [],
        {
            "action": "append",
            "metavar": "HOST[:PORT]",
            "help": "let dataLocation fetch uploads from this host (any port unless given), "
            "repeatable; off by default. Loopback only when listed itself "
            "(127.0.0.1:8000, localhost:8000); redirects are not followed",
        },
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--control-token",
        None,
        {
            "metavar": "T",
            "help": "bearer token of the emulator's /emulator/* control endpoints, at least "
            "16 characters (default: a generated one, printed)",
        },
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--ca-cert",
        None,
        {
            "metavar": "FILE",
            "help": "start the https proxy for clients that hard-code "
            "https://spatial.virtualearth.net (set HTTPS_PROXY to the port it prints), and "
            "write its CA certificate to FILE for them to trust (the CA's key never leaves "
            "memory)",
        },
    ),
    ProviderOption(
        BING_DATAFLOW,
        "--https-proxy-port",
        None,
        {
            "type": int,
            "metavar": "P",
            "help": "port of the https proxy (default: 8443; 0: any free port); needs --ca-cert",
        },
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
        AZURE_MAPS,
        "--timeout-rate",
        0.0,
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests answered 408, as a batch over 60 s is "
            "(default: {default:g})",
        },
    ),
    ProviderOption(
        AZURE_MAPS,
        "--timeout-over-items",
        None,
        {
            "type": non_negative_int,
            "metavar": "N",
            "help": "answer 408 to every batch of more than N items, to test halving a batch",
        },
    ),
)

SHARED_OPTIONS = (
    SharedOption(
        "--key",
        {BING_DATAFLOW: [], AZURE_MAPS: []},
        {
            "action": "append",
            "metavar": "K",
            "help": f"accepted key, repeatable (default: ${KEY_ENV} for bing-dataflow, "
            f"${AZURE_KEY_ENV} for azure-maps, else a generated key, printed)",
        },
    ),
    SharedOption(
        "--rate-limit",
        {AMAZON_LOCATION: 100.0, AZURE_MAPS: 10.0},
        {
            "type": positive_float,
            "metavar": "R",
            "help": "requests per second the emulated account allows (default: {default})",
        },
    ),
    SharedOption(
        "--throttle-rate",
        {AMAZON_LOCATION: 0.0, AZURE_MAPS: 0.0},
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests answered 429 (ThrottlingException for amazon-location) "
            "(default: {default})",
        },
    ),
    SharedOption(
        "--error-rate",
        {AMAZON_LOCATION: 0.0, AZURE_MAPS: 0.0},
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests answered 500 InternalServerException (amazon-location) "
            "or 500/503 (azure-maps) (default: {default})",
        },
    ),
    SharedOption(
        "--delay-seconds",
        {AMAZON_LOCATION: 0.0, AZURE_MAPS: 0.0},
        {
            "type": non_negative_float,
            "metavar": "S",
            "help": "extra latency of a delayed request; azure-maps answers 408 past 60 s "
            "(default: {default})",
        },
    ),
    SharedOption(
        "--delay-rate",
        {AMAZON_LOCATION: 1.0, AZURE_MAPS: 1.0},
        {
            "type": fraction,
            "metavar": "F",
            "help": "share of requests delayed by --delay-seconds (default: {default})",
        },
    ),
)

NOTES = """\
providers:
  bing-dataflow    the Bing Maps Geocode Dataflow API (default; port 8080); it prints the
                   DATAFLOW_ENDPOINT and key to use with the other commands
  amazon-location  the Amazon Location Places v2 API, Geocode and ReverseGeocode (port 8787);
                   point a boto3 geo-places client at it with endpoint_url
  azure-maps       Azure Maps Geocoding Batch and Reverse Geocoding Batch (port 8788); point
                   azure-maps-search's MapsSearchClient at it with endpoint=

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
        help="port (default: 8080 for bing-dataflow, 8787 for amazon-location, 8788 for "
        "azure-maps; 0: any free port)",
    )
    emulator.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    add_provider_options(emulator, OPTIONS)
    add_shared_options(emulator, SHARED_OPTIONS)


def cmd_emulator(args: argparse.Namespace) -> int:
    # Usage errors first, so they are reported even without the [local] extra.
    resolve_provider_options(args, OPTIONS)
    resolve_shared_options(args, SHARED_OPTIONS)
    module, what, port = EMULATORS[args.provider]
    if args.port is None:
        args.port = port
    # The Dataflow and Azure Maps emulators resolve an empty --key list themselves
    # ($BING_MAPS_KEY / $AZURE_MAPS_KEY, else a generated key that they print).
    run_emulator = optional(module, "run_emulator", what)
    return int(run_emulator(args) or 0)


def add_shared_options(parser: argparse.ArgumentParser, options: tuple[SharedOption, ...]) -> None:
    """The options, grouped under "<provider> and <provider> options" in ``--help``."""
    groups: dict[tuple[str, ...], Any] = {}
    for option in options:
        providers = tuple(option.defaults)
        if providers not in groups:
            groups[providers] = parser.add_argument_group(f"{' and '.join(providers)} options")
        keywords = dict(option.keywords)
        if "help" in keywords:
            keywords["help"] = keywords["help"].format(default=_defaults_text(option))
        groups[providers].add_argument(option.flag, default=None, **keywords)


def resolve_shared_options(args: argparse.Namespace, options: tuple[SharedOption, ...]) -> None:
    """As ``resolve_provider_options``, for options several providers share."""
    for option in options:
        given = getattr(args, option.dest) is not None
        if args.provider not in option.defaults:
            if given:
                names = " or ".join(option.defaults)
                raise CliError(f"{option.flag} applies to --provider {names} only")
        elif not given:
            setattr(args, option.dest, copy.copy(option.defaults[args.provider]))


def _defaults_text(option: SharedOption) -> str:
    shown = {
        provider: f"{value:g}" if isinstance(value, float) else str(value)
        for provider, value in option.defaults.items()
    }
    if len(set(shown.values())) == 1:
        return next(iter(shown.values()))
    return ", ".join(f"{value} for {provider}" for provider, value in shown.items())
