"""``geocode-dataflow stack datasource-backup ACCESS_ID NAME``: back up a data source now, on
a deployed stack.

Starts an execution of the stack's backup state machine (its output
``DataSourceBackupStateMachineArn``): the stack's own functions read the master key from its
secret, so the caller needs only ``states:StartExecution`` (and ``dynamodb:GetItem`` for
``--wait``), never the key.
"""

from __future__ import annotations

import argparse
import time

from geocode_dataflow.cli.common import (
    EXIT_NOT_FINISHED,
    EXIT_USAGE,
    PROG,
    CliError,
    positive_float,
)
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.jobs import JobStore

BACKUP_OUTPUT = "DataSourceBackupStateMachineArn"
POLL_SECONDS = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("access_id", metavar="ACCESS_ID", help="the data source's access id")
    parser.add_argument("name", metavar="NAME", help="the data source's name")
    parser.add_argument(
        "--version",
        metavar="JOB_ID",
        help="a previous or the staged version (the download's jobId); default: the published one",
    )
    parser.add_argument(
        "--wait",
        type=positive_float,
        metavar="S",
        help="wait up to S seconds for the backup to end and show its record",
    )


def cmd_datasource_backup(args: argparse.Namespace) -> int:
    # stack.py imports this module: its helpers are imported when the command runs, and so
    # is the pipeline's backup module (with Powertools and X-Ray), which no other command needs.
    from geocode_dataflow.cli.stack import DeployedStack, _ended, aws_errors, describe_record
    from geocode_dataflow.pipeline.backup import DataSourceRef, start_backup

    try:
        source = DataSourceRef(args.access_id, args.name, args.version)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with aws_errors():
        stack = DeployedStack.find(args)
        machine = stack.outputs.get(BACKUP_OUTPUT)
        if not machine:
            raise CliError(
                f"stack {stack.name} has no output {BACKUP_OUTPUT}: deploy this version of "
                "the template to back up data sources",
                EXIT_USAGE,
            )
        job_id = start_backup(stack.session.client("stepfunctions"), machine, source)
        print(f"backup {job_id} started ({source.access_id}/{source.name})")
        if args.wait is None:
            print(f"`{PROG} stack status {job_id}` shows it; `stack results` downloads its files")
            return 0
        store, deadline = JobStore(stack.table()), time.monotonic() + args.wait
        record = None  # until the state machine's first step has written it
        while time.monotonic() < deadline:
            record = store.get(job_id)
            if record is not None and record.status in jobs.FINAL_STATUSES:
                break
            time.sleep(POLL_SECONDS)
    if record is None or record.status not in jobs.FINAL_STATUSES:
        raise CliError(f"backup {job_id} has not ended yet", EXIT_NOT_FINISHED)
    print(describe_record(record))
    return _ended(record)
