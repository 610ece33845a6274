"""The Dataflow client commands: ``run``, ``status``, ``download``, ``jobs`` and
``datasource-download``, each talking to the service (or the emulator) at ``--endpoint``."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from geocode_dataflow.cli.common import (
    ENDPOINT_ENV,
    EXIT_ABORTED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NOT_FINISHED,
    EXIT_OK,
    KEY_ENV,
    PROG,
    CliError,
    Commands,
    add_command,
    note,
    positive_float,
)
from geocode_dataflow.cli.display import ProgressLine, counts, describe_job, print_match_summary
from geocode_dataflow.cli.results import (
    in_input_order,
    out_dir,
    safe_name,
    save,
    save_set,
    unused_out_dir,
)
from geocode_dataflow.cli.schema_commands import add_limits, limits, load_schema
from geocode_dataflow.client import DEFAULT_ENDPOINT, DataflowClient, DataflowJob


def register(commands: Commands, parents: list[argparse.ArgumentParser]) -> None:
    service = argparse.ArgumentParser(add_help=False, parents=parents)
    service.add_argument("--key", help=f"Bing Maps key (default: ${KEY_ENV})")
    service.add_argument(
        "--endpoint", help=f"Dataflow base URL (default: ${ENDPOINT_ENV} or {DEFAULT_ENDPOINT})"
    )

    run = add_command(
        commands, "run", "validate, upload, wait for and download a geocode job", cmd_run, [service]
    )
    run.add_argument("file", metavar="FILE")
    run.add_argument(
        "--out", required=True, metavar="DIR", help="directory for succeeded.<ext> / failed.<ext>"
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --out directory (files of the same name are replaced)",
    )
    run.add_argument("--description", help="job description (default: the file name)")
    _add_polling(run)
    add_limits(run)

    status = add_command(commands, "status", "show a job's status", cmd_status, [service])
    status.add_argument("job_id", metavar="JOB_ID", help="job id or status URL")
    status.add_argument("--json", action="store_true", help="print the job as JSON")

    download = add_command(
        commands, "download", "download the result sets of a finished job", cmd_download, [service]
    )
    download.add_argument("job_id", metavar="JOB_ID", help="job id or status URL")
    download.add_argument("--out", required=True, metavar="DIR")

    jobs = add_command(
        commands, "jobs", "list the account's jobs of the last 15 days", cmd_jobs, [service]
    )
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON")

    datasource = add_command(
        commands,
        "datasource-download",
        "download a data source (key: the data source master key)",
        cmd_datasource_download,
        [service],
    )
    datasource.add_argument("access_id", metavar="ACCESS_ID")
    datasource.add_argument("data_source_name", metavar="DATA_SOURCE_NAME")
    datasource.add_argument("--out", required=True, metavar="DIR")
    datasource.add_argument(
        "--job-id", help="version of the data source to download (default: published)"
    )
    _add_polling(datasource)


def _add_polling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-seconds",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="first wait between status checks; grows x1.5 up to 60 s (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=24 * 3600.0,
        metavar="S",
        help="give up waiting after S seconds; the job keeps running (default: %(default)s)",
    )


# --- commands ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    # Configuration errors (no key, insecure endpoint, a used --out) first, before reading a
    # large file, and all of them before a billable job is created.
    with _client(args) as client:
        unused_out_dir(args.out, force=args.force)
        schema = load_schema()
        report = schema.validate_feed(args.file, limits=limits(schema, args))
        if not report.valid:
            print(report.to_text())
            raise CliError(
                f"{args.file} is not a valid feed ({len(report.errors)} file-level error(s)); "
                "nothing was sent",
                EXIT_INVALID,
            )
        note(
            f"{args.file}: {report.format}, {report.entity_count} entities "
            f"({report.geocode_count} geocode, {report.reverse_count} reverse)"
        )
        if report.warnings:
            note(
                f"{len(report.warnings)} entity-level warning(s): the service will fail those "
                f"entities (details: {PROG} validate {args.file})"
            )
        folder = out_dir(args.out)
        progress = ProgressLine(sys.stderr)
        job = client.create_job(
            schema.utf8_chunks(args.file, args.file),
            report.format,
            description=args.description or Path(args.file).name,
        )
        note(f"job {job.id} created")
        job = _wait(client, job, args, progress)
        return _finish(client, job, folder, report.format, source=Path(args.file))


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.get_job(args.job_id)
    if args.json:
        print(json.dumps(job.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(describe_job(job))
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.get_job(args.job_id)
        if not job.is_finished:
            raise CliError(
                f"job {job.id} is {job.status}: nothing to download yet", EXIT_NOT_FINISHED
            )
        return _finish(client, job, out_dir(args.out), None)


def cmd_jobs(args: argparse.Namespace) -> int:
    with _client(args) as client:
        jobs = client.list_jobs()
    if args.json:
        print(json.dumps([job.to_dict() for job in jobs], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not jobs:
        print("no jobs in the last 15 days")
        return EXIT_OK
    print(f"{'ID':<32}  {'STATUS':<9}  {'CREATED (UTC)':<19}  {'ENTITIES':>17}  DESCRIPTION")
    for job in jobs:
        created = job.created_date.strftime("%Y-%m-%d %H:%M:%S") if job.created_date else "-"
        print(
            f"{job.id:<32}  {job.status or '-':<9}  {created:<19}  {counts(job):>17}  "
            f"{job.description or job.name or ''}"
        )
    return EXIT_OK


def cmd_datasource_download(args: argparse.Namespace) -> int:
    folder = out_dir(args.out)
    with _client(args) as client:
        progress = ProgressLine(sys.stderr)
        job = client.create_datasource_download(
            args.access_id, args.data_source_name, job_id=args.job_id
        )
        note(f"data source download job {job.id} created")
        job = _wait(client, job, args, progress)
        stem = safe_name(args.data_source_name)
        if job.is_aborted:
            reason = job.error_message or "no message"
            message = f"data source download job {job.id} was aborted: {reason}"
            if "failed" in job.output_urls:
                path = folder / f"{stem}.errors.txt"
                save(lambda sink: client.download_results(job, "failed", sink), path)
                message += f" (error log: {path})"
            raise CliError(message, EXIT_ABORTED)
        path = folder / f"{stem}.xml"
        size = save(lambda sink: client.download_datasource(job, sink), path)
    print(f"{path} ({size:,} bytes)")
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> DataflowClient:
    key = (args.key or os.environ.get(KEY_ENV, "")).strip()
    if not key:
        raise CliError(f"no Bing Maps key: set {KEY_ENV} (or pass --key)")
    endpoint = (args.endpoint or os.environ.get(ENDPOINT_ENV, "")).strip() or DEFAULT_ENDPOINT
    try:
        return DataflowClient(key, endpoint)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _wait(
    client: DataflowClient, job: DataflowJob, args: argparse.Namespace, progress: ProgressLine
) -> DataflowJob:
    try:
        return client.wait_for_job(
            job, poll_seconds=args.poll_seconds, timeout=args.timeout, on_poll=progress.update
        )
    except TimeoutError:
        raise CliError(
            f"job {job.id} still not finished after {args.timeout:g} s; "
            "it keeps running on the service: "
            f"check it with `{PROG} status {job.id}`",
            EXIT_NOT_FINISHED,
        ) from None
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; job {job.id} keeps running on the service: "
            f"`{PROG} download {job.id} --out DIR` fetches its results later",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        progress.close()


def _tables(source: Path, written: list[tuple[str, Path, int]], folder: Path) -> Any:
    """results.csv and results.geojson of the input and its downloaded result sets."""
    from geocode_dataflow.results import FeedTable, build_results
    from geocode_dataflow.schema import open_feed

    def entities(path: Path) -> Any:
        with open_feed(path, on_issue=lambda issue, is_error: None) as reader:
            yield from reader

    sets = [(functools.partial(entities, path), which == "failed") for which, path, _ in written]
    table = FeedTable(lambda: source.open("rb"), str(source))
    return build_results(table, sets, folder)


def _finish(
    client: DataflowClient,
    job: DataflowJob,
    folder: Path,
    fmt: str | None,
    *,
    source: Path | None = None,
) -> int:
    """Downloads whatever result sets the job has, prints a summary; the exit code. With the
    job's ``source`` file, the sets are put in its order (the service returns its own), and
    results.csv / results.geojson and the match summary are written."""
    written: list[tuple[str, Path, int]] = []
    for which in ("succeeded", "failed"):
        if which in job.output_urls:
            path, size = save_set(client, job, which, folder, fmt)
            written.append((which, path, size))
    if source is not None and written:
        written = in_input_order(written, source, folder)
    built = _tables(source, written, folder) if source is not None and written else None
    print(describe_job(job))
    for which, path, size in written:
        print(f"{which + ':':<14}{path} ({size:,} bytes)")
    if built is not None:
        print(f"{'table:':<14}{built.csv_path}")
        print(f"{'map:':<14}{built.geojson_path} ({built.features:,} points)")
        print_match_summary(built.summary.to_dict(), sys.stdout)
    if not written:
        print(f"{'results:':<14}none (no result set links)")
    if job.is_aborted:
        raise CliError(
            f"job {job.id} was aborted: {job.error_message or 'the service gave no reason'}",
            EXIT_ABORTED,
        )
    return EXIT_OK
