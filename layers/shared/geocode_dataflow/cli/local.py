"""``geocode-dataflow local run|demo``: the whole pipeline on this machine (moto + an emulator).

The local pipeline is a local-only package (the [local] extra), imported when the command runs.
"""

from __future__ import annotations

import argparse
import copy

from geocode_dataflow.cli import local_backup
from geocode_dataflow.cli.common import CliError, Commands, add_command, optional, positive_float
from geocode_dataflow.cli.provider_options import (
    AMAZON_LOCATION,
    AZURE_MAPS,
    BING_DATAFLOW,
    PROVIDERS,
    ProviderOption,
    add_provider_option,
    add_provider_options,
)

# The providers the pipeline geocodes one request at a time, at a pace it sets itself.
SYNCHRONOUS = (AMAZON_LOCATION, AZURE_MAPS)
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
)

RUN_DESCRIPTION = """\
drop FILE into the local pipeline and collect its results in DIR.

FILE is a Data Schema v2.0 file (xml, csv, tab or pipe; .gz accepted). With --provider
bing-dataflow (the default) the pipeline submits it as a job to the Dataflow emulator; with
--provider amazon-location the pipeline runs the job on its own job engine, one request per
entity, against the Amazon Location emulator.

With --compare-with Q the file is run twice, once with --provider and once with Q, into
DIR/<provider>/ and DIR/<Q>/; then the answers are compared (see `geocode-dataflow compare`):
the summary is printed and the per-entity report written to DIR/compare.csv.
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
    local_backup.register(local_commands)
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
            "--template",
            metavar="PATH",
            help="the project's template.yaml, with its functions/ next to it (default: "
            "$GEOCODE_DATAFLOW_TEMPLATE, else the checkout of an editable install, else the "
            "current directory or the nearest parent that has one)",
        )
        sub.add_argument(
            "--timeout",
            type=positive_float,
            default=600.0,
            metavar="S",
            help="seconds to wait for the job (default: %(default)s)",
        )
        sub.add_argument(
            "--compare-with",
            choices=PROVIDERS,
            metavar="Q",
            help="also run the file with provider Q and compare the answers "
            f"({', '.join(PROVIDERS)})",
        )
        add_provider_options(sub, OPTIONS)
        sub.add_argument_group(f"{' and '.join(SYNCHRONOUS)} options").add_argument(
            "--requests-per-second",
            type=positive_float,
            metavar="R",
            help="requests per second the pipeline sends to the provider "
            "(ProviderRequestsPerSecond; default: the template's)",
        )


def cmd_local(args: argparse.Namespace) -> int:
    resolve_options(args, providers(args))
    run_local = optional("local_pipeline.cli", "run_local", "the local pipeline")
    return int(run_local(args) or 0)


def providers(args: argparse.Namespace) -> tuple[str, ...]:
    """The provider of each run: ``--provider``, then ``--compare-with`` when given."""
    other = getattr(args, "compare_with", None)
    if other is None:
        return (args.provider,)
    if other == args.provider:
        raise CliError(f"--compare-with {other} is the --provider already: name another provider")
    if getattr(args, "keep_running", False):
        raise CliError("--keep-running cannot be combined with --compare-with")
    return (args.provider, other)


def resolve_options(args: argparse.Namespace, chosen: tuple[str, ...]) -> None:
    """Refuses the options that apply to none of the ``chosen`` providers and fills in the
    defaults of theirs (``resolve_provider_options`` for one provider or two)."""
    for option in OPTIONS:
        given = getattr(args, option.dest) is not None
        if option.provider not in chosen and given:
            raise CliError(f"{option.flag} applies to --provider {option.provider} only")
        if option.provider in chosen and not given:
            setattr(args, option.dest, copy.copy(option.default))
    if args.requests_per_second is not None and not set(chosen) & set(SYNCHRONOUS):
        raise CliError(
            f"--requests-per-second applies to --provider {' or '.join(SYNCHRONOUS)} only"
        )
