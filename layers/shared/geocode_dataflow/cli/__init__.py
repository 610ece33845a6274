"""``geocode-dataflow``: validate, convert and geocode files with the Geocode Dataflow API.

Every expected failure ends with one ``geocode-dataflow: error: ...`` line on stderr and a
distinct exit code (see ``common.EPILOG``); a traceback means a bug. Heavy or optional modules
(the schema engine, the emulators, the local pipeline) are imported inside the subcommand that
needs them, so ``--help`` always works and the Lambda layer never loads them by accident.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from geocode_dataflow import __version__
from geocode_dataflow.cli import compare, emulator, local, schema_commands, service, stack
from geocode_dataflow.cli.common import (
    EPILOG,
    EXIT_ABORTED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NOT_FINISHED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    CliError,
    configure_logging,
    run_handler,
    verbose_options,
)

__all__ = [
    "EXIT_ABORTED",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_NOT_FINISHED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliError",
    "build_parser",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", 0))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_handler(handler, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Validate, convert and batch-geocode files with the Bing Maps Geocode "
        "Dataflow API (Data Schema v2.0: xml, csv, tab, pipe); run the pipeline locally "
        "against an emulated provider (Bing Maps Dataflow or Amazon Location); list, inspect, "
        "cancel and download the jobs of a deployed stack.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    parents = [verbose_options()]
    schema_commands.register(commands, parents)
    service.register(commands, parents)
    emulator.register(commands, parents)
    local.register(commands, parents)
    compare.register(commands, parents)
    stack.register(commands, parents)
    return parser
