"""``geocode-dataflow local run|demo``: the whole pipeline on this machine (moto + an emulator).

The local pipeline is a local-only package (the [local] extra), imported when the command runs.
"""

from __future__ import annotations

import argparse

from geocode_dataflow.cli.common import Commands, add_command, optional, positive_float
from geocode_dataflow.cli.provider_options import (
    AMAZON_LOCATION,
    BING_DATAFLOW,
    ProviderOption,
    add_provider_option,
    add_provider_options,
    resolve_provider_options,
)

OPTIONS = (
    ProviderOption(
        BING_DATAFLOW,
        "--processing-seconds",
        2.0,
        {
            "type": float,
            "metavar": "S",
            "help": "emulated processing time per job (default: {default})",
        },
    ),
    ProviderOption(
        AMAZON_LOCATION,
        "--requests-per-second",
        None,
        {
            "type": positive_float,
            "metavar": "R",
            "help": "requests per second the pipeline sends to the provider "
            "(ProviderRequestsPerSecond; default: the template's)",
        },
    ),
)

RUN_DESCRIPTION = """\
drop FILE into the local pipeline and collect its results in DIR.

FILE is a Data Schema v2.0 file (xml, csv, tab or pipe; .gz accepted). With --provider
bing-dataflow (the default) the pipeline submits it as a job to the Dataflow emulator; with
--provider amazon-location the pipeline runs the job on its own job engine, one request per
entity, against the Amazon Location emulator.
"""


def register(commands: Commands, parents: list[argparse.ArgumentParser]) -> None:
    local = add_command(
        commands,
        "local",
        "run the whole pipeline on this machine (moto + a provider emulator; [local] extra)",
        cmd_local,
        parents,
    )
    local_commands = local.add_subparsers(
        title="local commands", dest="local_command", metavar="COMMAND"
    )
    local_commands.required = True
    local_run = local_commands.add_parser(
        "run",
        help="drop FILE into the local pipeline and collect its results",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    local_run.add_argument("file", metavar="FILE", help="a Data Schema v2.0 file")
    local_run.add_argument("--out", required=True, metavar="DIR")
    local_run.add_argument(
        "--keep-running", action="store_true", help="keep the local stack up afterwards"
    )
    local_demo = local_commands.add_parser(
        "demo", help="run the bundled sample file through the local pipeline"
    )
    local_demo.add_argument(
        "--out", default="local-results", metavar="DIR", help="default: %(default)s"
    )
    for sub in (local_run, local_demo):
        add_provider_option(sub, "the provider the pipeline geocodes with, emulated locally")
        sub.add_argument(
            "--timeout",
            type=positive_float,
            default=600.0,
            metavar="S",
            help="seconds to wait for the job (default: %(default)s)",
        )
        add_provider_options(sub, OPTIONS)


def cmd_local(args: argparse.Namespace) -> int:
    resolve_provider_options(args, OPTIONS)
    run_local = optional("local_pipeline.cli", "run_local", "the local pipeline")
    return int(run_local(args) or 0)
