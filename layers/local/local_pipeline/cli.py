"""``geocode-dataflow local run FILE --out DIR`` and ``geocode-dataflow local demo``.

Both run the real pipeline on this machine (see ``local_pipeline.stack``): the file is dropped
under the input prefix of the emulated bucket, the S3 event runs the submit function, the state
machine polls the provider (the Dataflow emulator, or the pipeline's own job engine geocoding
against the Amazon Location emulator), and the outputs are copied to DIR. Exit code 0 only for
COMPLETED. With ``--compare-with`` the file runs once per provider and the answers are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from geocode_dataflow.cli.common import CliError, run_handler, tolerate_closed_stdout
from geocode_dataflow.cli.display import print_match_summary
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.jobs import JobRecord

from local_pipeline import template as tpl

SAMPLE = Path(__file__).resolve().parent / "samples" / "demo-addresses.xml"
# The same meanings as the rest of the geocode-dataflow CLI: 1 invalid file (nothing sent),
# 2 usage error, 4 the job did not complete.
EXIT_COMPLETED, EXIT_REJECTED, EXIT_ERROR, EXIT_FAILED = 0, 1, 2, 4
SHOWN_ERRORS = 20  # of a rejected file's errors, in the summary; rejection.json has them all
BING_DATAFLOW = "bing-dataflow"
PROVIDER_NAMES = {
    BING_DATAFLOW: "Bing Maps Geocode Dataflow",
    "amazon-location": "Amazon Location",
    "azure-maps": "Azure Maps",
}


def add_arguments(parser: argparse.ArgumentParser, *, demo: bool) -> None:
    if not demo:
        parser.add_argument(
            "file", type=Path, help="a Data Schema v2.0 file (xml, csv, tab, pipe; .gz accepted)"
        )
    parser.add_argument(
        "--out", type=Path, default=Path("local-results"), help="folder that receives the outputs"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the job (default 600)"
    )
    parser.add_argument(
        "--processing-seconds", type=float, default=2.0, help="emulated processing time per job"
    )
    parser.add_argument("--template", help="the project's template.yaml")


class _Progress:
    """One status line, rewritten in place on a terminal, printed on change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._last = ""

    def __call__(self, record: JobRecord | None) -> None:
        elapsed = time.monotonic() - self._started
        if record is None:
            line = "waiting for the S3 event to be processed"
        else:
            counts = ""
            if record.total_entities is not None:
                done = record.processed_entities or 0
                counts = f" {done}/{record.total_entities} entities processed"
            line = f"{record.status:<9}{counts} (checks: {record.status_checks})"
        if self._tty:
            self._stream.write(f"\r[{elapsed:6.1f}s] {line:<70}")
            self._stream.flush()
        elif line != self._last:
            self._stream.write(f"[{elapsed:6.1f}s] {line}\n")
        self._last = line

    def done(self) -> None:
        if self._tty:
            self._stream.write("\n")


def run_local(args: argparse.Namespace) -> int:
    # Powertools warns when an invocation published no metric; noise on a terminal.
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    demo = getattr(args, "local_command", None) == "demo" or getattr(args, "file", None) is None
    source: Path = SAMPLE if demo else Path(args.file)
    out: Path = Path(getattr(args, "out", None) or "local-results")
    if not source.is_file():
        raise CliError(f"{source} is not a file", EXIT_ERROR)
    # Everything that would make the run wait for nothing is refused before it starts.
    template = checked_template(getattr(args, "template", None))
    check_picked_up(source, template)
    timeout = float(getattr(args, "timeout", 600.0))
    other = getattr(args, "compare_with", None)
    with template_in_use(template.path):
        if other:
            providers = (option_values(args)["provider"], other)
            return run_compared(source, out, args, providers, timeout)
        record = run_job(
            source,
            out,
            option_values(args),
            timeout=timeout,
            keep_running=getattr(args, "keep_running", False),
            # The demo's seven entities are worth showing; a real file's are in results.csv.
            verbose=demo or bool(getattr(args, "verbose", 0)),
        )
    return exit_code(record)


def checked_template(explicit: str | None) -> tpl.Template:
    """The template the local stack is built from, with the function code it names."""
    try:
        template = tpl.load_template(tpl.locate_template(explicit))
    except tpl.TemplateNotFoundError as exc:
        raise CliError(str(exc), EXIT_ERROR) from None
    missing = [
        str(spec.code_dir)
        for spec in tpl.functions(template).values()
        if not spec.code_dir.is_dir()
    ]
    if missing:
        raise CliError(
            f"{template.path} names function code that is not next to it: {', '.join(missing)}",
            EXIT_ERROR,
        )
    return template


def check_picked_up(source: Path, template: dict[str, Any]) -> None:
    """Refuses a file whose name the S3 notification ignores: the job would never start."""
    suffixes = tpl.accepted_suffixes(template)
    if any(source.name.endswith(suffix) for suffix in suffixes):
        return
    message = (
        f"{source.name}: the pipeline picks up only files ending in {' '.join(suffixes)} "
        "(S3 suffix filters are case-sensitive); nothing was started"
    )
    fitting = [s for s in suffixes if source.name.lower().endswith(s.lower())]
    if fitting:
        renamed = source.name[: -len(fitting[0])] + fitting[0]
        message += f"; rename it to {renamed}"
    raise CliError(message, EXIT_ERROR)


@contextmanager
def template_in_use(path: Path) -> Iterator[None]:
    """Every local stack of this run (one per provider) builds from ``path``: the stack reads
    its template through ``template.locate_template``, which honours the variable first."""
    saved = os.environ.get(tpl.TEMPLATE_ENV)
    os.environ[tpl.TEMPLATE_ENV] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(tpl.TEMPLATE_ENV, None)
        else:
            os.environ[tpl.TEMPLATE_ENV] = saved


def run_job(
    source: Path,
    out: Path,
    options: dict[str, Any],
    *,
    timeout: float,
    keep_running: bool = False,
    verbose: bool = False,
) -> JobRecord:
    """One local pipeline, with one provider: ``source`` dropped, its job awaited, the outputs
    (and the functions' logs) written to ``out`` and summarised on stdout (every entity too
    with ``verbose``)."""
    from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

    err = sys.stderr
    with LocalPipeline(LocalPipelineOptions(**options)) as pipeline:
        log_path = out / "lambda-logs.jsonl"
        out.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as log:
            pipeline.lambdas.output_listeners.append(log.write)
            err.write(
                f"Local AWS (moto) at {pipeline.aws_endpoint}\n"
                f"provider: {_describe_provider(pipeline)}\n"
                f"Dropping {source.name} into s3://{pipeline.bucket}/{pipeline.input_prefix}\n"
            )
            if not pipeline.options.endpoint:
                err.write(
                    "geocoder: embedded and offline (locality and postal-code centroids, "
                    "not a street-level geocoder)\n"
                )
            job_id = pipeline.drop(source)
            progress = _Progress(err)
            try:
                record = pipeline.wait(job_id, timeout=timeout, on_progress=progress)
            finally:
                progress.done()
        files = pipeline.export(record, out)
        with tolerate_closed_stdout():  # `local run ... | head`: the job is done all the same
            _print_summary(record, files, log_path, sys.stdout, entities=verbose)
        if keep_running:
            _keep_running(pipeline, err)
    return record


def run_compared(
    source: Path, out: Path, args: argparse.Namespace, providers: tuple[str, str], timeout: float
) -> int:
    """``source`` run with each provider into ``out/<provider>/``, one pipeline after the other,
    then compared (``out/compare.csv``); the worst exit code of the two jobs."""
    from geocode_dataflow.cli.compare import load, report

    records = [
        run_job(source, out / provider, option_values(args, provider), timeout=timeout)
        for provider in providers
    ]
    unfinished = [
        f"the {provider} job ended {record.status}"
        for provider, record in zip(providers, records, strict=True)
        if record.status != jobs.COMPLETED
    ]
    if unfinished:
        sys.stderr.write(f"\nno comparison: {'; '.join(unfinished)}\n")
    else:
        comparison = load(out / providers[0], out / providers[1])
        with tolerate_closed_stdout():
            sys.stdout.write("\n")
            report(comparison, sys.stdout, csv_path=out / "compare.csv")
    return max(exit_code(record) for record in records)


def exit_code(record: JobRecord) -> int:
    if record.status == jobs.COMPLETED:
        return EXIT_COMPLETED
    return EXIT_REJECTED if record.status == jobs.REJECTED else EXIT_FAILED


def option_values(args: argparse.Namespace, provider: str | None = None) -> dict[str, Any]:
    """The ``LocalPipelineOptions`` fields the arguments set for ``provider`` (default: the
    arguments' own); absent ones keep their defaults, so the standalone ``main`` (which has
    fewer options) works too. Each option reaches only the providers it applies to."""
    chosen = provider or getattr(args, "provider", None) or BING_DATAFLOW
    values: dict[str, Any] = {"provider": chosen}
    processing_seconds = getattr(args, "processing_seconds", None)
    if processing_seconds is not None and chosen == BING_DATAFLOW:
        values["emulator_processing_seconds"] = float(processing_seconds)
    requests_per_second = getattr(args, "requests_per_second", None)
    if requests_per_second is not None and chosen != BING_DATAFLOW:
        values["requests_per_second"] = float(requests_per_second)
    return values


def _describe_provider(pipeline: Any) -> str:
    name = PROVIDER_NAMES.get(pipeline.provider, pipeline.provider)
    where = "at" if pipeline.options.endpoint else "emulator at"
    return f"{name} ({where} {pipeline.endpoint})"


def _keep_running(pipeline: Any, err: TextIO) -> None:
    """Leave the local stack up so more files can be dropped with any S3 client."""
    err.write(
        "\nThe local stack keeps running (Ctrl-C stops it). Drop more files with, for example:\n"
        f"  AWS_ENDPOINT_URL={pipeline.aws_endpoint} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\\n"
        f"    aws s3 cp FILE s3://{pipeline.bucket}/{pipeline.input_prefix}\n"
        f"Results appear under s3://{pipeline.bucket}/results/ ; the provider is at {pipeline.endpoint}\n"
    )
    try:
        while True:
            pipeline.run_schedules()
            time.sleep(1.0)
    except KeyboardInterrupt:
        err.write("stopped\n")


def _print_summary(
    record: JobRecord, files: list[Path], log_path: Path, out: TextIO, *, entities: bool = False
) -> None:
    out.write(f"\nJob {record.job_id}: {record.status}\n")
    if record.total_entities is not None:
        out.write(
            f"  entities: {record.total_entities} total ({_shown(record.geocode_entities)} "
            f"geocode, {_shown(record.reverse_entities)} reverse)\n"
        )
    if record.summary and "rows" in record.summary:
        print_match_summary(record.summary, out)
    rejection = next((path for path in files if path.name == "rejection.json"), None)
    if not (rejection and _print_rejection_errors(rejection, out)) and record.error:
        out.write(f"  reason: {_shown(record.error.get('message'))}\n")
    for path in files:
        out.write(f"  wrote {path}\n")
    out.write(f"  function logs: {log_path}\n")
    if not entities:
        if any(path.stem in ("succeeded", "failed") for path in files):
            out.write("  (every entity: -v)\n")
        return
    for path in files:
        if path.stem in ("succeeded", "failed"):
            _print_entities(path, out)


def _print_rejection_errors(path: Path, out: TextIO) -> bool:
    """Every file-level error of a rejection report (the first SHOWN_ERRORS, then how many
    more); False when the report lists none (the file was never validated)."""
    from geocode_dataflow.schema.issues import Issue

    report = json.loads(path.read_text(encoding="utf-8")).get("report") or {}
    errors = report.get("errors") or []
    if not errors:
        return False
    total = max(int(report.get("error_count") or 0), len(errors))
    out.write(f"  {total:,} file-level error(s):\n")
    fields = Issue.__dataclass_fields__
    for error in errors[:SHOWN_ERRORS]:
        issue = Issue(**{k: v for k, v in error.items() if k in fields})
        out.write(f"    {issue.where() or '-'}: [{issue.code}] {issue.message}\n")
    if total > SHOWN_ERRORS:
        out.write(f"    ... and {total - SHOWN_ERRORS:,} more; see {path}\n")
    return True


def _print_entities(path: Path, out: TextIO) -> None:
    from geocode_dataflow.schema import open_feed

    out.write(f"\n{path.name}:\n")
    with open_feed(path) as feed:
        for entity in feed:
            out.write(f"  {_describe(entity)}\n")


def _describe(entity: Any) -> str:
    if entity.fault_reason:
        return f"{entity.id:<14} {_shown(entity.status_code)}: {entity.fault_reason}"
    if not entity.responses:
        return f"{entity.id:<14} no match"
    best = entity.responses[0]
    point = best.point or (best.geocode_points[0] if best.geocode_points else None)
    where = (
        f"{float(point.latitude):9.4f}, {float(point.longitude):10.4f}" if point else "(no point)"
    )
    quality = ", ".join(_shown(v) for v in (best.entity_type, best.confidence, best.match_codes))
    return f"{entity.id:<14} {where}  {best.name or ''}  [{quality}]"


def _shown(value: Any) -> str:
    """A value for people: '-' for one the file does not have (never Python's ``None``)."""
    return "-" if value is None or value == "" else str(value)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (the CLI's ``local`` subcommand calls run_local directly)."""
    parser = argparse.ArgumentParser(prog="local-pipeline")
    sub = parser.add_subparsers(dest="local_command", required=True)
    add_arguments(sub.add_parser("run"), demo=False)
    add_arguments(sub.add_parser("demo"), demo=True)
    return run_handler(run_local, parser.parse_args(argv))
