"""``geocode-dataflow emulator``: run the emulator in the foreground until Ctrl-C.

``run_emulator(args)`` is called by the project CLI (which defines the arguments); ``python -m
dataflow_emulator`` uses ``build_parser()`` here to offer the same options standalone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emulator_support.cli import EmulatorCli, accepted_keys, add_key_argument, emulator_parser

from .config import QUIRKS, EmulatorConfig
from .server import EmulatorServer

KEY_ENV = "BING_MAPS_KEY"
ENDPOINT_ENV = "DATAFLOW_ENDPOINT"  # what the project CLI reads
DEFAULT_PORT = 8080
DEFAULT_HTTPS_PROXY_PORT = 8443
CA_CERT_HELP = (
    "start the https proxy for clients that hard-code https://spatial.virtualearth.net, and "
    "write the certificate of its CA (made at start, key kept in memory) to FILE, for them "
    "to trust"
)
HTTPS_PROXY_PORT_HELP = (
    f"port of the https proxy (default: {DEFAULT_HTTPS_PROXY_PORT}; 0: any free port); "
    "needs --ca-cert"
)


def build_parser() -> argparse.ArgumentParser:
    parser = emulator_parser(
        "python -m dataflow_emulator",
        "Run a local Bing Maps Geocode Dataflow emulator (offline geocoder).",
        default_port=DEFAULT_PORT,
    )
    add_key_argument(parser, f"accepted key, repeatable (default: ${KEY_ENV} or a generated one)")
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
    parser.add_argument(
        "--allow-data-location",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="let dataLocation fetch uploads from this host (any port unless given), "
        "repeatable; off by default. Loopback and other special addresses only when listed "
        "themselves (127.0.0.1:8000, [::1]:8000, localhost:8000); redirects are not followed",
    )
    parser.add_argument(
        "--control-token",
        default=None,
        metavar="T",
        help="bearer token of the /emulator/* control endpoints, at least 16 characters "
        "(default: a generated one, printed)",
    )
    parser.add_argument("--ca-cert", type=Path, default=None, metavar="FILE", help=CA_CERT_HELP)
    parser.add_argument(
        "--https-proxy-port", type=int, default=None, metavar="P", help=HTTPS_PROXY_PORT_HELP
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    token = getattr(args, "control_token", None)
    return EmulatorConfig(
        keys=set(accepted_keys(args, KEY_ENV)),
        processing_seconds=float(getattr(args, "processing_seconds", 2.0)),
        quirks=set(getattr(args, "quirk", None) or []),
        max_pending_jobs=int(getattr(args, "max_pending_jobs", 10)),
        max_jobs_per_day=int(getattr(args, "max_jobs_per_day", 50)),
        retention_days=float(getattr(args, "retention_days", 14)),
        seed=int(getattr(args, "seed", 0) or 0),
        data_location_hosts=tuple(getattr(args, "allow_data_location", None) or ()),
        **({"control_token": token} if token else {}),  # else a generated one
    )


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The https proxy's port and CA file, when ``--ca-cert`` asks for the proxy."""
    ca_cert = getattr(args, "ca_cert", None)
    port = getattr(args, "https_proxy_port", None)
    if ca_cert is None:
        if port is not None:
            raise ValueError("--https-proxy-port needs --ca-cert FILE (the CA clients trust)")
        return {}
    return {
        "https_proxy_port": DEFAULT_HTTPS_PROXY_PORT if port is None else int(port),
        "ca_cert": Path(ca_cert),
    }


def _banner(server: EmulatorServer, config: EmulatorConfig, args: argparse.Namespace) -> None:
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
    print(f"    HTTP_PROXY={server.url}   (http://spatial.virtualearth.net/...)")
    if server.https_proxy_url:
        print(
            "  and as an https proxy for clients that hard-code https://spatial.virtualearth.net:"
        )
        print(f"    HTTPS_PROXY={server.https_proxy_url}   trusting the CA in {server.ca_cert}:")
        print(f"    REQUESTS_CA_BUNDLE={server.ca_cert} (Python requests), SSL_CERT_FILE=... (most")
        print("    others), curl --cacert FILE; other hosts are refused (403), never contacted")
    else:
        print("    (https: start with --ca-cert FILE for the https proxy)")
    print(f"  control:   {server.url}/emulator/state | /emulator/faults | /emulator/clock")
    # A token the user chose is known to them; a generated one is needed to use the endpoints.
    token = config.control_token if not getattr(args, "control_token", None) else "TOKEN"
    print(f"    with -H 'Authorization: Bearer {token}' (and -H 'Content-Type: application/json')")
    if config.data_location_hosts:
        hosts = ", ".join(str(entry) for entry in config.data_location_hosts)
        print(f"  dataLocation fetched from: {hosts} (no redirects)")
    else:
        print("  dataLocation: off (--allow-data-location HOST[:PORT] to fetch from a host)")
    if config.quirks:
        print(f"  quirks:  {', '.join(sorted(config.quirks))}")


CLI = EmulatorCli(
    build_parser, config_from_args, EmulatorServer, DEFAULT_PORT, _banner, server_options
)
run_emulator = CLI.run  # the project CLI calls run_emulator(args); tests may pass stop=
main = CLI.main  # python -m dataflow_emulator
