"""``geocode-dataflow local datasource-backup``: back up an emulated data source through the
local stack (moto + the Dataflow emulator), the files left in ``--out``."""

from __future__ import annotations

import argparse

from geocode_dataflow.cli.common import optional, positive_float

DESCRIPTION = """\
back up the data source ACCESS_ID/NAME of the Dataflow emulator through the local pipeline.

The backup state machine of template.yaml runs under moto with the real handlers: the
download job is created with the master key (a secret of its own), polled, and its XML kept
with entities.csv, entities.geojson and schema.json; they are copied to DIR with job.json.
--list shows the emulator's data sources (a sample, one with a column of every type, and
one of 200,000 entities).
"""


def register(local_commands: argparse._SubParsersAction) -> None:
    backup = local_commands.add_parser(
        "datasource-backup",
        help="back up an emulated data source (XML, CSV, GeoJSON, schema) through the local pipeline",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backup.add_argument("access_id", metavar="ACCESS_ID", nargs="?")
    backup.add_argument("name", metavar="NAME", nargs="?")
    backup.add_argument("--out", metavar="DIR")
    backup.add_argument(
        "--version",
        metavar="JOB_ID",
        help="a previous or the staged version (the download's jobId); default: the published one",
    )
    backup.add_argument("--list", action="store_true", help="list the emulator's data sources")
    backup.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    backup.add_argument(
        "--processing-seconds",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="how long the emulated download job stays Pending (default: %(default)s)",
    )
    backup.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        metavar="S",
        help="seconds to wait for the backup (default: %(default)s)",
    )
    backup.add_argument("--template", metavar="PATH", help="the project's template.yaml")
    backup.set_defaults(handler=cmd_local_backup)


def cmd_local_backup(args: argparse.Namespace) -> int:
    run_backup = optional("local_pipeline.backup_run", "run_backup", "the local pipeline")
    return int(run_backup(args) or 0)
