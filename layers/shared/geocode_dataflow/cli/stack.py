"""``geocode-dataflow stack jobs|status|cancel|results``: the jobs of a deployed stack.

The stack is found by name (``--stack-name``, ``$GEOCODE_DATAFLOW_STACK``); its CloudFormation
outputs name the bucket, the jobs table and the state machine. AWS is reached with boto3's usual
credentials (environment, profile, SSO, instance role). ``cancel`` acts as the pipeline does, so
it runs with the pipeline's own configuration: the environment of the stack's dispatcher
function, which every function shares.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as AwsConnectionError

from geocode_dataflow.cli import stack_backup
from geocode_dataflow.cli.common import (
    EPILOG,
    EXIT_ABORTED,
    EXIT_INVALID,
    EXIT_NOT_FINISHED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    CliError,
    Commands,
    add_command,
)
from geocode_dataflow.cli.display import duration
from geocode_dataflow.cli.results import out_dir, save, unused_out_dir
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import ConfigurationError, PipelineConfig
from geocode_dataflow.pipeline.jobs import STATUS_INDEX, JobRecord, JobStore

STACK_ENV = "GEOCODE_DATAFLOW_STACK"
DEFAULT_STACK = "geocode-dataflow"
# The outputs every command needs (template.yaml's Outputs); any others are ignored.
BUCKET_OUTPUT, TABLE_OUTPUT, STATE_MACHINE_OUTPUT = "BucketName", "JobsTableName", "StateMachineArn"
REQUIRED_OUTPUTS = (BUCKET_OUTPUT, TABLE_OUTPUT, STATE_MACHINE_OUTPUT)
# The function whose environment is the pipeline's configuration for ``cancel``: cancelling
# frees a slot and starts what waits, which is the dispatcher's work.
CONFIG_FUNCTION = "DispatchQueuedFunction"
# Every status a record can have, each listed through the status index (no table scan).
STATUSES = (
    jobs.RECEIVED,
    jobs.QUEUED,
    jobs.PENDING,
    jobs.COMPLETED,
    jobs.FAILED,
    jobs.REJECTED,
    jobs.CANCELLED,
)
DEFAULT_LIMIT = 50
PAGE_SIZE = 100
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# botocore ClientError codes, by what the user can do about them.
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
    }
)
TRY_LATER = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
    }
)

NOTES = f"""\
the stack:
  found by name: --stack-name, else ${STACK_ENV}, else "{DEFAULT_STACK}"; its outputs
  {", ".join(REQUIRED_OUTPUTS)} name what the commands read. AWS credentials and
  region come from boto3's usual chain (AWS_PROFILE, AWS_REGION, ~/.aws/config, SSO, a role).
  Exit codes for AWS: 2 stack not found, an output missing, no credentials or region;
  3 job not found, access denied; 6 AWS unreachable or throttling, even after retries.
  `stack results` writes what the job has, then: 0 it COMPLETED, 1 it was REJECTED,
  4 it ended FAILED or CANCELLED, 5 it has not ended. `stack cancel`: 0 the job is
  CANCELLED, 3 it had already ended otherwise.

"""


def register(commands: Commands, parents: list[argparse.ArgumentParser]) -> None:
    about = "list, inspect, cancel and download the jobs of a deployed stack (AWS credentials)"
    stack = commands.add_parser(
        "stack",
        help=about,
        description=about,
        parents=parents,
        epilog=NOTES + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options = argparse.ArgumentParser(add_help=False, parents=parents)
    options.add_argument(
        "--stack-name",
        default=None,
        metavar="NAME",
        help=f"the CloudFormation stack (default: ${STACK_ENV} or {DEFAULT_STACK})",
    )
    options.add_argument("--region", metavar="R", help="AWS region (default: boto3's)")
    stack_commands = stack.add_subparsers(
        title="stack commands", dest="stack_command", metavar="COMMAND"
    )
    stack_commands.required = True

    listing = add_command(
        stack_commands, "jobs", "the stack's jobs, newest first", cmd_jobs, [options], NOTES
    )
    listing.add_argument(
        "--status",
        type=str.upper,
        choices=STATUSES,
        metavar="S",
        help=f"only the jobs with status S ({', '.join(STATUSES)})",
    )
    listing.add_argument(
        "--since",
        type=since,
        metavar="T",
        help="only the jobs created at or after T: an ISO 8601 date or time (UTC unless it "
        "says otherwise, e.g. 2026-11-15 or 2026-11-15T08:00+01:00) or an age (30m, 12h, 7d, 2w)",
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help="at most N jobs, the newest (default: %(default)s; 0: all)",
    )
    listing.add_argument("--json", action="store_true", help="print the job records as JSON")

    status = add_command(
        stack_commands, "status", "one job's record and progress", cmd_status, [options], NOTES
    )
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--json", action="store_true", help="print the job record as JSON")

    cancel = add_command(
        stack_commands,
        "cancel",
        "cancel a job that has not ended (it ends CANCELLED, its slot is freed)",
        cmd_cancel,
        [options],
        NOTES,
    )
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.add_argument(
        "--reason",
        default="cancelled by request",
        help="recorded on the job (default: %(default)s)",
    )

    backup = add_command(
        stack_commands,
        "datasource-backup",
        "back up a data source now: its XML, entities.csv, entities.geojson and schema.json "
        "under datasources/",
        stack_backup.cmd_datasource_backup,
        [options],
        NOTES,
    )
    stack_backup.add_arguments(backup)

    results = add_command(
        stack_commands,
        "results",
        "download a job's outputs: result sets, results.csv / .geojson, job.json, rejection.json",
        cmd_results,
        [options],
        NOTES,
    )
    results.add_argument("job_id", metavar="JOB_ID")
    results.add_argument("--out", required=True, metavar="DIR")
    results.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty DIR (files of the same name are replaced)",
    )


# --- commands ---------------------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise CliError("--limit must be >= 0")
    with aws_errors():
        stack = DeployedStack.find(args)
        statuses = (args.status,) if args.status else STATUSES
        records = list_jobs(stack.table(), statuses, since=args.since, limit=args.limit)
    if args.json:
        print(json.dumps([r.to_document() for r in records], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not records:
        which = f" {args.status}" if args.status else ""
        when = f" since {args.since}" if args.since else ""
        print(f"no{which} jobs{when} in stack {stack.name}")
        return EXIT_OK
    print_jobs(records, sys.stdout)
    if args.limit and len(records) == args.limit:
        print(f"(the newest {args.limit}; --limit 0 lists them all)", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    with aws_errors():
        stack = DeployedStack.find(args)
        record = stack.record(args.job_id)
    if args.json:
        print(json.dumps(record.to_document(), indent=2, ensure_ascii=False))
    else:
        print(describe_record(record))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    # The pipeline's own code (heavier than the rest of the CLI): imported when it is needed.
    from geocode_dataflow.pipeline.cancel import cancel_job
    from geocode_dataflow.pipeline.runtime import Runtime

    with aws_errors():
        stack = DeployedStack.find(args)
        stack.record(args.job_id)  # "not found" in this command's words, before anything else
        services = Runtime(config=stack.pipeline_config()).services()
        with pipeline_logs(args.verbose):
            # The next queued job is left to the stack's own dispatcher (its role, its key).
            outcome = cancel_job(args.job_id, services, reason=args.reason, dispatch=False)
    print(f"job {outcome.job_id}: {outcome.status} ({outcome.detail})")
    if outcome.status != jobs.CANCELLED:
        raise CliError(f"job {outcome.job_id} was not cancelled: {outcome.detail}", EXIT_REJECTED)
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    unused_out_dir(args.out, force=args.force)
    with aws_errors():
        stack = DeployedStack.find(args)
        record = stack.record(args.job_id)
        uris = dict(record.outputs)
        if record.rejection_report:
            uris["rejection"] = record.rejection_report
        if record.status not in jobs.FINAL_STATUSES and not uris:
            raise CliError(
                f"job {record.job_id} is {record.status}: nothing to download yet "
                f"(`{PROG} stack status {record.job_id}` shows its progress)",
                EXIT_NOT_FINISHED,
            )
        folder = out_dir(args.out)
        written, missing = stack.download(uris, folder)
    if "job" not in uris:  # a job that ended before writing job.json: the record says it all
        target = folder / "job.json"
        document = json.dumps(record.to_document(), indent=2, sort_keys=True, default=str)
        size = save(lambda sink: sink.write(document.encode("utf-8")), target)
        written.append((target, size))
    print(describe_record(record))
    for path, size in written:
        print(f"{'wrote:':<15}{path} ({size:,} bytes)")
    if missing:
        raise CliError(
            f"{len(missing)} output(s) of job {record.job_id} could not be read: "
            + "; ".join(missing),
            EXIT_REJECTED,
        )
    return _ended(record)


def _ended(record: JobRecord) -> int:
    """The exit code of a job's results, as for `local run`: 0 only when it completed."""
    if record.status == jobs.COMPLETED:
        return EXIT_OK
    reason = (record.error or {}).get("message") or "no reason recorded"
    if record.status == jobs.REJECTED:
        raise CliError(f"job {record.job_id} was rejected: {reason}", EXIT_INVALID)
    if record.status in jobs.FINAL_STATUSES:
        raise CliError(f"job {record.job_id} ended {record.status}: {reason}", EXIT_ABORTED)
    raise CliError(
        f"job {record.job_id} is {record.status}: these are its outputs so far", EXIT_NOT_FINISHED
    )


# --- the stack --------------------------------------------------------------------------------


@dataclass
class DeployedStack:
    """A deployed pipeline: its name, region, outputs, and one boto3 session for every call."""

    name: str
    region: str
    outputs: dict[str, str]
    session: Any

    @classmethod
    def find(cls, args: argparse.Namespace) -> DeployedStack:
        import boto3

        name = args.stack_name or os.environ.get(STACK_ENV, "").strip() or DEFAULT_STACK
        # boto3's default session, which the pipeline's own Runtime uses too (cancel).
        boto3.setup_default_session(region_name=args.region or None)
        session = boto3.DEFAULT_SESSION
        region = session.region_name
        if not region:
            raise CliError(
                "no AWS region: pass --region, or set AWS_REGION (or a region in your AWS profile)"
            )
        cloudformation = session.client("cloudformation")
        try:
            found = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if _code(exc) == "ValidationError" and "does not exist" in _message(exc):
                raise CliError(
                    f"stack {name} not found in {region}: pass --stack-name (or set {STACK_ENV}) "
                    "and --region",
                    EXIT_USAGE,
                ) from None
            raise
        description = found[0]
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in description.get("Outputs", [])}
        absent = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
        if absent:
            raise CliError(
                f"stack {name} ({description.get('StackStatus', '?')}) has no output "
                f"{', '.join(absent)}: is it a geocode-dataflow stack? "
                f"(its outputs: {', '.join(sorted(outputs)) or 'none'})",
                EXIT_USAGE,
            )
        return cls(name=name, region=region, outputs=outputs, session=session)

    @property
    def bucket(self) -> str:
        return self.outputs[BUCKET_OUTPUT]

    @property
    def table_name(self) -> str:
        return self.outputs[TABLE_OUTPUT]

    def table(self) -> Any:
        return self.session.resource("dynamodb").Table(self.table_name)

    def record(self, job_id: str) -> JobRecord:
        record = JobStore(self.table()).get(job_id)
        if record is None:
            raise CliError(
                f"no job {job_id} in stack {self.name} (`{PROG} stack jobs` lists them)",
                EXIT_REJECTED,
            )
        return record

    def pipeline_config(self) -> PipelineConfig:
        """The configuration the stack's functions run with (their shared environment)."""
        cloudformation = self.session.client("cloudformation")
        resource = cloudformation.describe_stack_resource(
            StackName=self.name, LogicalResourceId=CONFIG_FUNCTION
        )["StackResourceDetail"]
        function = self.session.client("lambda").get_function_configuration(
            FunctionName=resource["PhysicalResourceId"]
        )
        environment = function.get("Environment", {}).get("Variables", {})
        try:
            config = PipelineConfig.from_env(environment)
        except ConfigurationError as exc:
            raise CliError(f"stack {self.name}: {CONFIG_FUNCTION}: {exc}", EXIT_USAGE) from None
        used = (config.jobs_table_name, config.bucket_name, config.state_machine_arn)
        declared = (self.table_name, self.bucket, self.outputs[STATE_MACHINE_OUTPUT])
        if used != declared:
            raise CliError(
                f"stack {self.name}: {CONFIG_FUNCTION} uses {', '.join(map(str, used))}; the "
                f"stack's outputs say {', '.join(declared)}",
                EXIT_USAGE,
            )
        return config

    def download(
        self, uris: dict[str, str], folder: Path
    ) -> tuple[list[tuple[Path, int]], list[str]]:
        """Each ``s3://`` URI into ``folder`` under its own file name: what was written, and
        what could not be read (gone, say: results expire)."""
        s3 = self.session.client("s3")
        written: list[tuple[Path, int]] = []
        missing: list[str] = []
        for uri in dict.fromkeys(uris.values()):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            name = Path(key).name
            if not uri.startswith("s3://") or not key or name in ("", ".", ".."):
                missing.append(f"{uri} (not an S3 object URI)")
                continue
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            except ClientError as exc:
                if _code(exc) not in ("NoSuchKey", "404"):
                    raise
                missing.append(f"{uri} (no such object: results expire)")
                continue
            size = save(lambda sink, body=body: _copy(body, sink), folder / name)
            written.append((folder / name, size))
        return written, missing


def _copy(body: Any, sink: IO[bytes]) -> int:
    size = 0
    for chunk in body.iter_chunks(1024 * 1024):
        sink.write(chunk)
        size += len(chunk)
    return size


def list_jobs(
    table: Any, statuses: tuple[str, ...], *, since: str | None, limit: int
) -> list[JobRecord]:
    """The newest ``limit`` jobs (0: all) of the ``statuses``, newest first: per status through
    the status index, newest first, at most ``limit`` each, then merged."""
    records: list[JobRecord] = []
    for status in statuses:
        records += _with_status(table, status, since, limit)
    records.sort(key=lambda record: (record.created_at, record.job_id), reverse=True)
    return records[:limit] if limit else records


def _with_status(table: Any, status: str, since: str | None, limit: int) -> list[JobRecord]:
    condition = "#s = :s" + (" AND created_at >= :since" if since else "")
    values: dict[str, str] = {":s": status}
    if since:
        values[":since"] = since
    query: dict[str, Any] = {
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
    }
    found: list[JobRecord] = []
    while True:
        wanted = limit - len(found) if limit else PAGE_SIZE
        page = table.query(Limit=min(wanted, PAGE_SIZE), **query)
        found += [JobRecord.from_item(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page or (limit and len(found) >= limit):
            return found
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def since(text: str) -> str:
    """``--since``: the moment as the records write it (ISO 8601 UTC, milliseconds, Z)."""
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        age = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return jobs.iso(jobs.utc_now() - age)
    try:
        moment = jobs.parse_iso(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date, time or age: {text!r} (e.g. 2026-11-15, 2026-11-15T08:00Z, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=jobs.UTC)
    return jobs.iso(moment)


# --- showing jobs -----------------------------------------------------------------------------


def print_jobs(records: list[JobRecord], out: IO[str]) -> None:
    counts = [progress(record) for record in records]
    width = max(len("JOB ID"), *(len(r.job_id) for r in records))
    entities = max(len("ENTITIES"), *(len(c) for c in counts))
    out.write(
        f"{'JOB ID':<{width}}  {'STATUS':<9}  {'CREATED (UTC)':<19}  "
        f"{'ENTITIES':>{entities}}  INPUT\n"
    )
    for record, count in zip(records, counts, strict=True):
        created = record.created_at.replace("T", " ")[:19]
        out.write(
            f"{record.job_id:<{width}}  {record.status:<9}  {created:<19}  "
            f"{count:>{entities}}  {record.input.key}\n"
        )


def progress(record: JobRecord) -> str:
    """``processed/total (N failed)``; ``-`` before validation has counted the entities."""
    if record.total_entities is None:
        return "-"
    done = f"{_count(record.processed_entities or 0)}/{_count(record.total_entities)}"
    if record.failed_entities:
        done += f" ({_count(record.failed_entities)} failed)"
    return done


def describe_record(record: JobRecord) -> str:
    rows: list[tuple[str, str]] = [("job", record.job_id), ("status", record.status)]
    if record.kind != jobs.GEOCODE:
        rows.append(("kind", record.kind))
    if record.data_source:
        source = record.data_source
        version = f" (version {source['version']})" if source.get("version") else ""
        rows.append(("data source", f"{source.get('access_id')}/{source.get('name')}{version}"))
    if record.unchanged_since:
        rows.append(("unchanged", f"same content as backup {record.unchanged_since}"))
    if record.queued_reason:
        rows.append(("queued", record.queued_reason))
    if record.error:
        rows.append(("error", f"{record.error.get('type', '?')}: {record.error.get('message')}"))
    size = f", {record.input.size:,} bytes" if record.input.size is not None else ""
    rows.append(("input", f"{record.input.uri} ({record.input_format or '?'}{size})"))
    if record.provider:
        rows.append(("provider", record.provider))
    if record.provider_job_id:
        rows.append(("provider job", record.provider_job_id))
    for label, value in (
        ("created", record.created_at),
        ("submitted", record.submitted_at),
        ("last checked", record.last_checked_at),
        ("completed", record.completed_at),
    ):
        if value:
            rows.append((label, value))
    if record.completed_at:
        took = jobs.parse_iso(record.completed_at) - jobs.parse_iso(record.created_at)
        rows.append(("took", duration(took.total_seconds())))
    total = record.total_entities
    if total is not None:
        kinds = ""
        if record.geocode_entities is not None and record.reverse_entities is not None:
            kinds = f" ({record.geocode_entities:,} geocode, {record.reverse_entities:,} reverse)"
        rows.append(("entities", f"{total:,}{kinds}"))
        processed = record.processed_entities or 0
        percent = f" ({min(100, processed * 100 // total)}%)" if total else ""
        rows.append(
            (
                "progress",
                f"{processed:,}/{total:,} processed{percent}, "
                f"{record.succeeded_entities or 0:,} succeeded, "
                f"{record.failed_entities or 0:,} failed",
            )
        )
    rows.append(("status checks", str(record.status_checks)))
    if record.provider_requests is not None:
        rows.append(("requests", _count(record.provider_requests)))
    rows += [(label, text) for label, text in _summary_rows(record.summary)]
    width = max((len(name) for name in record.outputs), default=0)
    for index, (name, uri) in enumerate(sorted(record.outputs.items())):
        rows.append(("outputs" if index == 0 else "", f"{name + ':':<{width + 1}} {uri}"))
    if record.rejection_report:
        rows.append(("rejection", record.rejection_report))
    return "\n".join(f"{label + ':' if label else '':<16}{value}" for label, value in rows)


def _summary_rows(summary: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The match summary: its counts on one line, each breakdown (by confidence, by entity
    type) on its own."""
    if not summary:
        return []
    counts = [f"{_count(v)} {k.replace('_', ' ')}" for k, v in summary.items() if _is_count(v)]
    rows = [("matches", ", ".join(counts))] if counts else []
    for key, value in summary.items():
        if isinstance(value, dict) and value:
            parts = [f"{k} {_count(v) if _is_count(v) else v}" for k, v in value.items()]
            rows.append((key.replace("_", " "), ", ".join(parts)))
    return rows


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


# --- AWS errors -------------------------------------------------------------------------------


@contextmanager
def aws_errors() -> Iterator[None]:
    """botocore's errors as one line and an exit code (see NOTES)."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CliError(
            f"no AWS credentials ({exc}): set AWS_PROFILE, run `aws configure` or "
            "`aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            EXIT_USAGE,
        ) from None
    except NoRegionError:
        raise CliError("no AWS region: pass --region, or set AWS_REGION", EXIT_USAGE) from None
    except ProfileNotFound as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except AwsConnectionError as exc:
        raise CliError(f"cannot reach AWS: {exc}", EXIT_UNAVAILABLE) from None
    except ClientError as exc:
        code, message = _code(exc), _message(exc)
        operation = getattr(exc, "operation_name", "the call")
        if code in ACCESS_DENIED:
            raise CliError(
                f"access denied to {operation} ({code}): {message}", EXIT_REJECTED
            ) from None
        if code in TRY_LATER:
            raise CliError(
                f"AWS is busy: {operation} ({code}) even after retries: {message}; try later",
                EXIT_UNAVAILABLE,
            ) from None
        if code in ("ResourceNotFoundException", "NoSuchBucket"):
            raise CliError(
                f"{operation}: {message} ({code}): has the stack's table or bucket been deleted?",
                EXIT_USAGE,
            ) from None
        raise CliError(f"{operation} failed ({code}): {message}", EXIT_REJECTED) from None
    except BotoCoreError as exc:
        raise CliError(f"AWS call failed: {exc}", EXIT_UNAVAILABLE) from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


@contextmanager
def pipeline_logs(verbosity: int) -> Iterator[None]:
    """The pipeline's JSON log lines (Powertools, on stdout in Lambda) go to stderr here, and
    only its errors unless -v: stdout stays this command's answer."""
    from geocode_dataflow.pipeline.observability import logger

    handler = logger.registered_handler  # type: ignore[attr-defined]
    saved = (handler.stream, logger.log_level)
    handler.stream = sys.stderr
    logger.setLevel(logging.INFO if verbosity else logging.ERROR)
    try:
        yield
    finally:
        handler.stream = saved[0]
        logger.setLevel(saved[1])
