"""``geocode-dataflow local datasource-backup``: one data source backup through the local stack.

The Dataflow emulator serves the built-in sample data source, one with a column of every type
and a 200,000-entity one (``--list`` shows their access ids); the backup runs the template's
backup state machine under moto with the real handlers, and its files are copied to ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import TextIO

from dataflow_emulator.datasources import (
    DataSource,
    every_type_data_source,
    generated_data_source,
    sample_data_source,
)
from geocode_dataflow.cli.common import CliError
from geocode_dataflow.cli.results import unused_out_dir
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.backup import DataSourceRef, start_backup

from local_pipeline.cli import EXIT_ERROR, checked_template, exit_code, template_in_use
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions


def local_data_sources() -> list[DataSource]:
    return [sample_data_source(), every_type_data_source(), generated_data_source()]


def list_data_sources(out: TextIO) -> None:
    out.write("ACCESS ID                         NAME                     ENTITIES\n")
    for source in local_data_sources():
        out.write(f"{source.access_id}  {source.name:<23}  {len(source.rows):>8,}\n")


def run_backup(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # moto logs a Fail state as an error; a failed backup is reported below, in one line.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    if args.list:
        list_data_sources(sys.stdout)
        return 0
    if not (args.access_id and args.name and args.out):
        raise CliError("ACCESS_ID, NAME and --out DIR are needed (--list shows the data sources)")
    unused_out_dir(args.out, force=args.force)
    template = checked_template(args.template)
    source = DataSourceRef(args.access_id, args.name, args.version)
    options = LocalPipelineOptions(
        emulator_processing_seconds=args.processing_seconds,
        emulator_options={"data_sources": local_data_sources()},
    )
    with template_in_use(template.path), LocalPipeline(options) as pipeline:
        job_id = start_backup(
            pipeline.client("stepfunctions"), pipeline.backup_state_machine_arn, source
        )
        print(f"backup {job_id} started", file=sys.stderr)
        record = pipeline.wait(job_id, timeout=args.timeout)
        written = pipeline.export(record, Path(args.out))
    print(f"{'job:':<15}{record.job_id}\n{'status:':<15}{record.status}")
    if record.unchanged_since:
        print(f"{'unchanged:':<15}same content as {record.unchanged_since}")
    if record.total_entities is not None:
        print(f"{'entities:':<15}{record.total_entities:,}")
    if record.error:
        print(f"{'error:':<15}{record.error.get('type')}: {record.error.get('message')}")
    for path in written:
        print(f"{'wrote:':<15}{path}")
    if record.status != jobs.COMPLETED and "does not exist" in str(record.error):
        raise CliError(
            f"{source.name} is not one of the emulator's data sources (--list shows them)",
            EXIT_ERROR,
        )
    return exit_code(record)
