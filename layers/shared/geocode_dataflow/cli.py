"""``geocode-dataflow``: validate, convert and geocode files with the Geocode Dataflow API.

Every expected failure ends with one ``geocode-dataflow: error: ...`` line on stderr and a
distinct exit code (see ``EPILOG``); a traceback means a bug. Heavy or optional modules (the
schema engine, the emulator, the local pipeline) are imported inside the subcommand that needs
them, so ``--help`` always works and the Lambda layer never loads them by accident.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from geocode_dataflow import __version__
from geocode_dataflow.client import DEFAULT_ENDPOINT, DataflowClient, DataflowJob
from geocode_dataflow.errors import (
    AuthenticationError,
    BadRequestError,
    GeocodeDataflowError,
    InsecureEndpointError,
    InvalidFeedError,
    JobAbortedError,
    JobNotFoundError,
    ProtocolError,
    QuotaExceededError,
    ServiceUnavailableError,
)

PROG = "geocode-dataflow"
KEY_ENV = "BING_MAPS_KEY"
ENDPOINT_ENV = "DATAFLOW_ENDPOINT"
FORMATS = ("xml", "csv", "tab", "pipe")
EXTENSIONS = {"xml": "xml", "csv": "csv", "tab": "tsv", "pipe": "txt"}
BASIC_MAX_ENTITIES = 50

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_ABORTED = 4
EXIT_NOT_FINISHED = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130

EPILOG = f"""\
environment:
  {KEY_ENV}        the Bing Maps key (preferred over --key, which other users can see in `ps`)
  {ENDPOINT_ENV}    the Dataflow base URL (default {DEFAULT_ENDPOINT});
                       plain http is accepted only for loopback, e.g. the emulator:
                       http://127.0.0.1:8080/REST/v1/Dataflows

exit codes:
  {EXIT_OK}    success (validate: the file is valid; warnings allowed)
  {EXIT_INVALID}    the input file is invalid (nothing was sent)
  {EXIT_USAGE}    usage or configuration error (bad arguments, no key, insecure endpoint,
       unreadable file, missing optional component)
  {EXIT_REJECTED}    the service rejected the request (bad request, bad key, unknown job,
       unreadable answer)
  {EXIT_ABORTED}    the job ended Aborted
  {EXIT_NOT_FINISHED}    the job is not finished (still pending, or --timeout reached); it keeps
       running on the service
  {EXIT_UNAVAILABLE}    the service is unavailable or over quota, even after retries: try later
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a job already created keeps running
"""

logger = logging.getLogger("geocode_dataflow.cli")


class CliError(Exception):
    """An expected failure: printed as one line, mapped to an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "verbose", 0))
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except CliError as exc:
        _fail(str(exc))
        return exc.exit_code
    except GeocodeDataflowError as exc:
        _fail(str(exc))
        return _exit_code_for(exc)
    except OSError as exc:
        _fail(_describe_os_error(exc))
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Validate, convert and batch-geocode files with the Bing Maps Geocode "
        "Dataflow API (Data Schema v2.0: xml, csv, tab, pipe).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: HTTP)"
    )
    service = argparse.ArgumentParser(add_help=False, parents=[common])
    service.add_argument("--key", help=f"Bing Maps key (default: ${KEY_ENV})")
    service.add_argument(
        "--endpoint", help=f"Dataflow base URL (default: ${ENDPOINT_ENV} or {DEFAULT_ENDPOINT})"
    )

    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(
        name: str,
        help_text: str,
        handler: Callable[[argparse.Namespace], int],
        parents: list[argparse.ArgumentParser],
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=parents,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    validate = add(
        "validate",
        "check a file against Data Schema v2.0 and the service's limits",
        cmd_validate,
        [common],
    )
    validate.add_argument("file", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_limits(validate)

    convert = add(
        "convert", "convert a file to another Data Schema v2.0 format", cmd_convert, [common]
    )
    convert.add_argument("file", metavar="FILE")
    convert.add_argument("--to", required=True, choices=FORMATS, help="target format")
    convert.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")

    run = add("run", "validate, upload, wait for and download a geocode job", cmd_run, [service])
    run.add_argument("file", metavar="FILE")
    run.add_argument(
        "--out", required=True, metavar="DIR", help="directory for succeeded.<ext> / failed.<ext>"
    )
    run.add_argument("--description", help="job description (default: the file name)")
    _add_polling(run)
    _add_limits(run)

    status = add("status", "show a job's status", cmd_status, [service])
    status.add_argument("job_id", metavar="JOB_ID", help="job id or status URL")
    status.add_argument("--json", action="store_true", help="print the job as JSON")

    download = add(
        "download", "download the result sets of a finished job", cmd_download, [service]
    )
    download.add_argument("job_id", metavar="JOB_ID", help="job id or status URL")
    download.add_argument("--out", required=True, metavar="DIR")

    jobs = add("jobs", "list the account's jobs of the last 15 days", cmd_jobs, [service])
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON")

    datasource = add(
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

    emulator = add(
        "emulator",
        "run the local Dataflow emulator (needs the [local] extra)",
        cmd_emulator,
        [common],
    )
    emulator.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    emulator.add_argument(
        "--port", type=int, default=8080, help="port (default: %(default)s; 0: any free port)"
    )
    emulator.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="K",
        help=f"accepted key, repeatable (default: ${KEY_ENV}, else a generated key, printed)",
    )
    emulator.add_argument(
        "--processing-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="time a job stays Pending (default: %(default)s)",
    )
    emulator.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="enable a documented quirk of the real service, repeatable",
    )
    emulator.add_argument(
        "--max-pending-jobs", type=int, default=10, metavar="N", help="default: %(default)s"
    )
    emulator.add_argument(
        "--max-jobs-per-day", type=int, default=50, metavar="N", help="default: %(default)s"
    )
    emulator.add_argument(
        "--retention-days", type=float, default=14, metavar="D", help="default: %(default)s"
    )
    emulator.add_argument("--seed", type=int, default=0, help="seed of the fault injector")

    local = add(
        "local",
        "run the whole pipeline on this machine (moto + emulator; [local] extra)",
        cmd_local,
        [common],
    )
    local_commands = local.add_subparsers(
        title="local commands", dest="local_command", metavar="COMMAND"
    )
    local_commands.required = True
    local_run = local_commands.add_parser(
        "run", help="drop FILE into the local pipeline and collect its results"
    )
    local_run.add_argument("file", metavar="FILE")
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
        sub.add_argument(
            "--timeout",
            type=_positive_float,
            default=600.0,
            metavar="S",
            help="seconds to wait for the job (default: %(default)s)",
        )
        sub.add_argument(
            "--processing-seconds",
            type=float,
            default=2.0,
            metavar="S",
            help="emulated processing time per job (default: %(default)s)",
        )
    return parser


def _add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--max-entities", type=int, metavar="N", help="entity limit (default: 200000, Enterprise)"
    )
    group.add_argument(
        "--basic",
        action="store_true",
        help=f"apply the Basic-key limit ({BASIC_MAX_ENTITIES} entities)",
    )


def _add_polling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-seconds",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="first wait between status checks; grows x1.5 up to 60 s (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=24 * 3600.0,
        metavar="S",
        help="give up waiting after S seconds; the job keeps running (default: %(default)s)",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


# --- commands ---------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    schema = _schema()
    report = schema.validate_feed(args.file, limits=_limits(schema, args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.to_text())
    return EXIT_OK if report.valid else EXIT_INVALID


def cmd_convert(args: argparse.Namespace) -> int:
    schema = _schema()
    if args.output:
        target = Path(args.output)
        partial = target.with_name(f".{target.name}.part")
        try:
            with open(args.file, "rb") as source, open(partial, "wb") as sink:
                count = schema.convert_feed(source, sink, args.to, filename=args.file)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        _note(f"converted {count} entities to {args.to}: {target}")
    else:
        with open(args.file, "rb") as source:
            count = schema.convert_feed(source, sys.stdout.buffer, args.to, filename=args.file)
        sys.stdout.buffer.flush()
        _note(f"converted {count} entities to {args.to}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    # Configuration errors (no key, insecure endpoint) first, before reading a large file.
    with _client(args) as client:
        schema = _schema()
        report = schema.validate_feed(args.file, limits=_limits(schema, args))
        if not report.valid:
            print(report.to_text())
            raise CliError(
                f"{args.file} is not a valid feed ({len(report.errors)} file-level error(s)); "
                "nothing was sent",
                EXIT_INVALID,
            )
        _note(
            f"{args.file}: {report.format}, {report.entity_count} entities "
            f"({report.geocode_count} geocode, {report.reverse_count} reverse)"
        )
        if report.warnings:
            _note(
                f"{len(report.warnings)} entity-level warning(s): the service will fail those "
                f"entities (details: {PROG} validate {args.file})"
            )
        out_dir = _out_dir(args.out)
        progress = ProgressLine(sys.stderr)
        job = client.create_job(
            schema.utf8_chunks(args.file, args.file),
            report.format,
            description=args.description or Path(args.file).name,
        )
        _note(f"job {job.id} created")
        job = _wait(client, job, args, progress)
        return _finish(client, job, out_dir, report.format)


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.get_job(args.job_id)
    if args.json:
        print(json.dumps(job.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(_describe_job(job))
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.get_job(args.job_id)
        if not job.is_finished:
            raise CliError(
                f"job {job.id} is {job.status}: nothing to download yet", EXIT_NOT_FINISHED
            )
        return _finish(client, job, _out_dir(args.out), None)


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
            f"{job.id:<32}  {job.status or '-':<9}  {created:<19}  {_counts(job):>17}  "
            f"{job.description or job.name or ''}"
        )
    return EXIT_OK


def cmd_datasource_download(args: argparse.Namespace) -> int:
    out_dir = _out_dir(args.out)
    with _client(args) as client:
        progress = ProgressLine(sys.stderr)
        job = client.create_datasource_download(
            args.access_id, args.data_source_name, job_id=args.job_id
        )
        _note(f"data source download job {job.id} created")
        job = _wait(client, job, args, progress)
        stem = _safe_name(args.data_source_name)
        if job.is_aborted:
            reason = job.error_message or "no message"
            message = f"data source download job {job.id} was aborted: {reason}"
            if "failed" in job.output_urls:
                path = out_dir / f"{stem}.errors.txt"
                _save(lambda sink: client.download_results(job, "failed", sink), path)
                message += f" (error log: {path})"
            raise CliError(message, EXIT_ABORTED)
        path = out_dir / f"{stem}.xml"
        size = _save(lambda sink: client.download_datasource(job, sink), path)
    print(f"{path} ({size:,} bytes)")
    return EXIT_OK


def cmd_emulator(args: argparse.Namespace) -> int:
    # The emulator resolves an empty --key list itself: $BING_MAPS_KEY, else a generated key
    # that it prints with the endpoint.
    run_emulator = _optional("dataflow_emulator.cli", "run_emulator", "the Dataflow emulator")
    return int(run_emulator(args) or 0)


def cmd_local(args: argparse.Namespace) -> int:
    run_local = _optional("local_pipeline.cli", "run_local", "the local pipeline")
    return int(run_local(args) or 0)


# --- helpers ----------------------------------------------------------------------------------


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


def _finish(client: DataflowClient, job: DataflowJob, out_dir: Path, fmt: str | None) -> int:
    """Downloads whatever result sets the job has, prints a summary; the exit code."""
    written: list[tuple[str, Path, int]] = []
    for which in ("succeeded", "failed"):
        if which in job.output_urls:
            path, size = _save_set(client, job, which, out_dir, fmt)
            written.append((which, path, size))
    print(_describe_job(job))
    for which, path, size in written:
        print(f"{which + ':':<14}{path} ({size:,} bytes)")
    if not written:
        print(f"{'results:':<14}none (no result set links)")
    if job.is_aborted:
        raise CliError(
            f"job {job.id} was aborted: {job.error_message or 'the service gave no reason'}",
            EXIT_ABORTED,
        )
    return EXIT_OK


def _save_set(
    client: DataflowClient, job: DataflowJob, which: str, out_dir: Path, fmt: str | None
) -> tuple[Path, int]:
    partial = out_dir / f".{which}.part"
    try:
        with open(partial, "w+b") as sink:
            size = client.download_results(job, which, sink)
            sink.seek(0)
            detected = fmt or sniff_format(sink.read(64 * 1024))
        target = out_dir / f"{which}.{EXTENSIONS.get(detected or '', 'txt')}"
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target, size


def _save(write: Callable[[IO[bytes]], int], target: Path) -> int:
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "w+b") as sink:
            size = write(sink)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return size


def sniff_format(head: bytes) -> str | None:
    """The Data Schema v2.0 format of a result file from its first bytes, or None."""
    text = head.lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace").lstrip()
    if not text:
        return None
    if text.startswith("<"):
        return "xml"
    lines = text.splitlines()
    if lines and lines[0].lower().startswith("bing spatial data services"):
        lines = lines[1:]  # the version line reads "…, 2.0" in every text format (Q20)
    if not lines:
        return None
    counts = {"pipe": lines[0].count("|"), "tab": lines[0].count("\t"), "csv": lines[0].count(",")}
    best = max(counts, key=lambda name: counts[name])
    return best if counts[best] else None


class ProgressLine:
    """The live "processed/total, elapsed" line: rewritten in place on a terminal, one line per
    poll otherwise (logs, CI). Elapsed time counts from the line's creation (before the upload)."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._width = 0
        self._clock = clock
        self._started = clock()

    def update(self, job: DataflowJob, _wait_elapsed: float = 0.0) -> None:
        elapsed = self._clock() - self._started
        total = job.total_entity_count
        processed = job.processed_entity_count
        done = f"{processed if processed is not None else '?'}/{total if total else '?'} processed"
        if total and processed is not None:
            done += f" ({min(100, processed * 100 // total)}%)"
        text = f"job {job.id}: {job.status or '?'}, {done}, elapsed {_duration(elapsed)}"
        if self._tty:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0


def _describe_job(job: DataflowJob) -> str:
    rows = [("job", job.id), ("status", job.status or "-")]
    if job.error_message:
        rows.append(("error", job.error_message))
    if job.description:
        rows.append(("description", job.description))
    if job.name:
        rows.append(("name", job.name))
    if job.created_date:
        rows.append(("created", job.created_date.isoformat()))
    if job.completed_date:
        rows.append(("completed", job.completed_date.isoformat()))
    if job.created_date and job.completed_date:
        rows.append(("took", _duration((job.completed_date - job.created_date).total_seconds())))
    rows.append(("entities", _counts(job, long=True)))
    rows.append(("result sets", ", ".join(sorted(job.output_urls, reverse=True)) or "none"))
    return "\n".join(f"{label + ':':<14}{value}" for label, value in rows)


def _counts(job: DataflowJob, *, long: bool = False) -> str:
    def show(value: int | None) -> str:
        return "?" if value is None else f"{value:,}"

    if long:
        return (
            f"{show(job.total_entity_count)} total, {show(job.processed_entity_count)} processed, "
            f"{show(job.failed_entity_count)} failed"
        )
    processed, total = show(job.processed_entity_count), show(job.total_entity_count)
    return f"{processed}/{total} ({show(job.failed_entity_count)} failed)"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _client(args: argparse.Namespace) -> DataflowClient:
    key = (args.key or os.environ.get(KEY_ENV, "")).strip()
    if not key:
        raise CliError(f"no Bing Maps key: set {KEY_ENV} (or pass --key)")
    endpoint = (args.endpoint or os.environ.get(ENDPOINT_ENV, "")).strip() or DEFAULT_ENDPOINT
    try:
        return DataflowClient(key, endpoint)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _schema() -> Any:
    try:
        return importlib.import_module("geocode_dataflow.schema")
    except ImportError as exc:  # only while the package is being assembled
        raise CliError(f"the schema engine is not available ({exc})") from None


def _limits(schema: Any, args: argparse.Namespace) -> Any:
    if args.basic:
        return schema.Limits(max_entities=BASIC_MAX_ENTITIES)
    if args.max_entities is not None:
        if args.max_entities <= 0:
            raise CliError("--max-entities must be > 0")
        return schema.Limits(max_entities=args.max_entities)
    return schema.Limits()


def _optional(module: str, function: str, what: str) -> Callable[[argparse.Namespace], Any]:
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise CliError(
            f"{what} is not available ({exc}): install the [local] extra, "
            "e.g. pip install 'geocode-dataflow-pipeline[local]'"
        ) from None
    entry = getattr(loaded, function, None)
    if entry is None:
        raise CliError(f"{what} is not available: {module}.{function} is missing")
    return entry  # type: ignore[no-any-return]


def _out_dir(value: str) -> Path:
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise CliError(f"cannot write to {path}")
    return path


def _safe_name(name: str) -> str:
    cleaned = "".join(char if char.isalnum() or char in "-_." else "_" for char in name).strip(".")
    return cleaned or "datasource"


def _exit_code_for(exc: GeocodeDataflowError) -> int:
    if isinstance(exc, InvalidFeedError):
        return EXIT_INVALID
    if isinstance(exc, InsecureEndpointError):
        return EXIT_USAGE
    if isinstance(exc, JobAbortedError):
        return EXIT_ABORTED
    if isinstance(exc, ServiceUnavailableError | QuotaExceededError):
        return EXIT_UNAVAILABLE
    if isinstance(exc, BadRequestError | AuthenticationError | JobNotFoundError | ProtocolError):
        return EXIT_REJECTED
    return EXIT_REJECTED


def _describe_os_error(exc: OSError) -> str:
    if exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("geocode_dataflow").setLevel(level)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
