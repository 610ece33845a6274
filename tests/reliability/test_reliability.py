"""Reliability figures of the whole local pipeline (make reliability): a burst of files against
the provider's limits, duplicate S3 deliveries, a flaky provider, hostile inputs and a search
for the key. Every scenario runs its own LocalPipeline with the same recognisable key, and
every pipeline is searched for that key before it closes; one table is printed at the end.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.schema import open_feed
from hostile_corpus import (
    FAST_OPTIONS,
    cases,
    drop_and_check,
    isolated_pipeline,
    submit_invocations,
    text_feed,
)
from local_pipeline.stack import REGION, LocalPipelineOptions
from secret_scan import EXPECTED_OUTCOMES, LogCollector, run_secret_scenario, scan_pipeline

pytestmark = pytest.mark.reliability

KEY = "SECRET-KEY-7f3a9c-DO-NOT-LEAK"
WRONG_KEY = "WRONG-KEY-3b8e1d-DO-NOT-LEAK"
SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "layers"
    / "local"
    / "local_pipeline"
    / "samples"
    / "demo-addresses.xml"
)
PLACES = [
    "Seattle, WA",
    "Denver, CO",
    "Chicago, IL",
    "Portland, OR",
    "Boston, MA",
    "Austin, TX",
    "Miami, FL",
]
SECRET_HITS: list[str] = []  # every pipeline's key occurrences, summed by the last test


def options(**overrides) -> LocalPipelineOptions:
    values = {**FAST_OPTIONS, **overrides}
    return LocalPipelineOptions(key=KEY, **values)


@contextmanager
def scenario(opts: LocalPipelineOptions, capfd) -> Iterator:
    """A fresh pipeline whose logs, printed lines and stores are searched for the key at the end."""
    with isolated_pipeline(opts) as pipeline, LogCollector() as logs:
        yield pipeline
        printed = capfd.readouterr()
        extra = {"stdout": printed.out, "stderr": printed.err, "log records": "\n".join(logs.lines)}
        result = scan_pipeline(pipeline, [KEY, WRONG_KEY], extra_text=extra)
        SECRET_HITS.extend(f"{h.where}: {h.excerpt}" for h in result.hits)


def feed(prefix: str, count: int, delimiter: str = ",", *, failing: int = 0) -> bytes:
    """A text feed of ``count`` entities, the last ``failing`` of them with no address."""
    header = delimiter.join(["Id", "GeocodeRequest/Culture", "GeocodeRequest/Query"])
    rows = []
    for i in range(count):
        query = "" if i >= count - failing else f'"{PLACES[i % len(PLACES)]}"'
        rows.append(delimiter.join([f"{prefix}{i}", "en-US", query]))
    return text_feed(rows, header=header).encode()


def drop_all(pipeline, files: dict[str, bytes], *, concurrent: bool) -> dict[str, str]:
    """Put every file under the input prefix; returns job id by name."""
    ids: dict[str, str] = {}

    def put(name: str, data: bytes) -> None:
        # One session per thread: boto3's default session is not safe to share for creation.
        s3 = boto3.session.Session().client(
            "s3", endpoint_url=pipeline.aws_endpoint, region_name=REGION
        )
        key = f"{pipeline.input_prefix}{name}"
        response = s3.put_object(Bucket=pipeline.bucket, Key=key, Body=data)
        ids[name] = jobs.make_job_id(pipeline.bucket, key, response["VersionId"])

    if not concurrent:
        for name, data in files.items():
            put(name, data)
        return ids
    threads = [threading.Thread(target=put, args=item) for item in files.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def wait_all(
    pipeline, job_ids: list[str], *, timeout: float = 180.0, sample=None, interval: float = 0.1
) -> dict:
    """Final records of every job, running the dispatcher's schedule meanwhile; every
    ``interval`` seconds (each round reads every unfinished record from moto)."""
    deadline = time.monotonic() + timeout
    done: dict = {}
    while True:
        pipeline.run_schedules()
        for job_id in job_ids:
            if job_id not in done:
                record = pipeline.record(job_id)
                execution = (
                    pipeline.execution(job_id)
                    if record and record.status in jobs.FINAL_STATUSES
                    else None
                )
                if (
                    record
                    and record.status in jobs.FINAL_STATUSES
                    and (not execution or execution["status"] != "RUNNING")
                ):
                    done[job_id] = record
        if sample:
            sample()
        if len(done) == len(job_ids):
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(job_ids) - len(done)} job(s) not finished after {timeout:.0f}s"
            )
        time.sleep(interval)


def metric_total(pipeline, name: str) -> int:
    """One metric summed over every local Lambda invocation, read from what each printed: the
    CloudWatch embedded metric format lines Powertools writes (what CloudWatch would count)."""
    total = 0.0
    for invocation in pipeline.lambdas.invocations:
        for line in invocation.output.splitlines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            document = json.loads(line)
            if "_aws" in document:
                value = document.get(name, 0)
                total += sum(value) if isinstance(value, list) else value
    return int(total)


def slot_holders(pipeline) -> int:
    item = (
        pipeline.client("dynamodb")
        .get_item(
            TableName=pipeline.table_name,
            Key={"job_id": {"S": "#provider-slots"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return len(item["holders"]["M"]) if item else 0


def queued_count(pipeline) -> int:
    """Jobs QUEUED now, from the status index (one query, not a read per job)."""
    return pipeline.client("dynamodb").query(
        TableName=pipeline.table_name,
        IndexName=jobs.STATUS_INDEX,
        KeyConditionExpression="#s = :queued",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":queued": {"S": jobs.QUEUED}},
        Select="COUNT",
    )["Count"]


def comparable(pipeline, record, which: str) -> list[dict]:
    """A result set parsed, sorted by Id, TraceId dropped (it names the request, not the data)."""
    uri = record.outputs.get(which)
    if not uri:
        return []
    with open_feed(io.BytesIO(pipeline.read(uri)), uri.rsplit("/", 1)[-1]) as reader:
        rows = []
        for entity in reader:
            data = dataclasses.asdict(entity)
            data.pop("trace_id", None)
            data.pop("line", None)
            rows.append(data)
    return sorted(rows, key=lambda r: str(r.get("id")))


def without_trace_ids(data: bytes) -> bytes:
    """The emulator, like the service, gives every entity of every job a new TraceId (XML
    element; text results carry one only when the header asks for the TraceId column)."""
    return re.sub(rb"<TraceId>[^<]*</TraceId>", b"<TraceId/>", data)


# ------------------------------------------------------------------ scenarios
@pytest.mark.timeout(900)  # a few minutes on two cores: 50 jobs through 10 slots
def test_burst_of_50_files_respects_the_provider_limits(figures, capfd):
    limit, count = 10, 50
    opts = options(
        emulator_processing_seconds=2.0,
        emulator_options={"max_pending_jobs": limit, "max_jobs_per_day": 1000},
        parameter_overrides={"MaxJobsInFlight": limit, "MaxJobsPerDay": 100},
    )
    with scenario(opts, capfd) as pipeline:
        files = {f"burst/file-{i:02d}.csv": feed(f"b{i}-", 4) for i in range(count)}
        started = time.perf_counter()
        ids = drop_all(pipeline, files, concurrent=True)
        peaks = {"queued": 0, "slots": 0}

        def sample() -> None:
            peaks["slots"] = max(peaks["slots"], slot_holders(pipeline))
            peaks["queued"] = max(peaks["queued"], queued_count(pipeline))

        sample()
        records = wait_all(pipeline, list(ids.values()), timeout=720, sample=sample, interval=0.5)
        seconds = time.perf_counter() - started
        state = pipeline.emulator.state
        completed = sum(r.status == "COMPLETED" for r in records.values())
        refused = state.rejections.get("quota-pending", 0) + state.rejections.get("quota-daily", 0)
        errors = [i for i in pipeline.lambdas.invocations if i.error_type]
        submits = pipeline.lambdas.max_concurrent("SubmitJobFunction")
        conflicts = metric_total(pipeline, "SlotConflicts")

    figures.add(
        "burst",
        "files dropped at once -> completed",
        f"{count} -> {completed}",
        f"{count} -> {count}",
        completed == count,
    )
    figures.add(
        "burst",
        "max provider jobs in flight (emulator)",
        state.max_concurrent_pending,
        f"<= {limit}",
        state.max_concurrent_pending <= limit,
    )
    figures.add(
        "burst",
        "max provider slots held (pipeline)",
        peaks["slots"],
        f"<= {limit}",
        peaks["slots"] <= limit,
    )
    figures.add(
        "burst",
        "max jobs waiting QUEUED",
        peaks["queued"],
        "> 0 (queueing used)",
        peaks["queued"] > 0,
    )
    figures.add(
        "burst", "max submit invocations running at once", submits, "> 1 (concurrent)", submits > 1
    )
    figures.add(
        "burst", "slot-update conflicts resolved (SlotConflicts metric)", conflicts, "-", True
    )
    figures.add("burst", "provider 503 JobUsageQuota answers", refused, 0, refused == 0)
    figures.add("burst", "function errors", len(errors), 0, not errors)
    figures.add(
        "burst", f"time for {count} files (2 s processing each)", f"{seconds:.1f} s", "-", True
    )
    assert completed == count, {
        r.job_id: (r.status, r.error) for r in records.values() if r.status != "COMPLETED"
    }
    assert state.max_concurrent_pending <= limit and peaks["slots"] <= limit and refused == 0
    assert submits > 1
    assert not errors, [(i.function, i.error_type, i.result) for i in errors]


def test_each_event_delivered_three_times_creates_one_provider_job(figures, capfd):
    with scenario(options(), capfd) as pipeline:
        files = {f"dupes/file-{i}.csv": feed(f"d{i}-", 3) for i in range(6)}
        ids = drop_all(pipeline, files, concurrent=False)  # first delivery: the S3 notification
        deliveries = len(files)
        for round_ in (1, 2):
            for name in files:
                key = f"{pipeline.input_prefix}{name}"
                obj = {"key": quote_plus(key)}
                if (
                    round_ == 2
                ):  # with the version id, as S3 sends it; round 1 without, as moto does
                    head = pipeline.client("s3").head_object(Bucket=pipeline.bucket, Key=key)
                    obj["versionId"] = head["VersionId"]
                event = {
                    "Records": [
                        {
                            "eventSource": "aws:s3",
                            "eventName": "ObjectCreated:Put",
                            "s3": {"bucket": {"name": pipeline.bucket}, "object": obj},
                        }
                    ]
                }
                pipeline.lambdas.invoke("SubmitJobFunction", event)
                deliveries += 1
        records = wait_all(pipeline, list(ids.values()))
        state = pipeline.emulator.state
        submits = [
            i
            for name in files
            for i in submit_invocations(pipeline, f"{pipeline.input_prefix}{name}")
        ]
        errors = [i for i in submits if i.error_type]
        completed = sum(r.status == "COMPLETED" for r in records.values())

    figures.add(
        "duplicates", "S3 deliveries (3 per file, 6 files)", deliveries, 18, deliveries == 18
    )
    figures.add(
        "duplicates",
        "provider jobs created",
        state.jobs_created,
        "6 (1 per file)",
        state.jobs_created == 6,
    )
    figures.add("duplicates", "jobs completed", completed, 6, completed == 6)
    figures.add("duplicates", "submit invocations that raised", len(errors), 0, not errors)
    assert len(submits) == 18 and state.jobs_created == 6 and completed == 6 and not errors


def test_flaky_provider_loses_no_job_and_changes_no_byte(figures, capfd):
    from dataflow_emulator import FaultConfig

    files = {
        "mixed.csv": feed("c", 12, ",", failing=2),
        "mixed.tsv": feed("t", 8, "\t", failing=1),
        "mixed.pipe": feed("p", 8, "|", failing=1),
        "demo.xml": SAMPLE.read_bytes(),
        "large.csv": feed("l", 40, ",", failing=5),
        "all-good.tsv": feed("g", 10, "\t"),
        "all-bad.pipe": feed("x", 5, "|", failing=5),
        "demo-copy.xml": SAMPLE.read_bytes(),
    }
    faults = FaultConfig(
        error_rate={"status": 0.15, "download": 0.15}, reset_rate={"status": 0.18, "download": 0.18}
    )
    with scenario(options(), capfd) as pipeline:
        clean_ids = drop_all(
            pipeline, {f"clean/{n}": d for n, d in files.items()}, concurrent=False
        )
        clean = wait_all(pipeline, list(clean_ids.values()))
        pipeline.emulator.set_faults(faults)
        before = sum(pipeline.emulator.state.faults_injected.values())
        calls_before = sum(pipeline.emulator.state.calls.get(e, 0) for e in ("status", "download"))
        try:
            flaky_ids = drop_all(
                pipeline, {f"flaky/{n}": d for n, d in files.items()}, concurrent=False
            )
            flaky = wait_all(pipeline, list(flaky_ids.values()), timeout=240)
        finally:
            pipeline.emulator.set_faults(FaultConfig())
        injected = sum(pipeline.emulator.state.faults_injected.values()) - before
        calls = (
            sum(pipeline.emulator.state.calls.get(e, 0) for e in ("status", "download"))
            - calls_before
        )

        lost, byte_identical, same_but_trace_ids, equal_parsed = [], 0, 0, 0
        for name in files:
            a, b = clean[clean_ids[f"clean/{name}"]], flaky[flaky_ids[f"flaky/{name}"]]
            if b.status != "COMPLETED" or a.status != "COMPLETED":
                lost.append(f"{name}: {b.status} {b.error}")
                continue
            sets = [s for s in ("succeeded", "failed") if s in a.outputs or s in b.outputs]
            raw_a = [pipeline.read(a.outputs[s]) if s in a.outputs else b"" for s in sets]
            raw_b = [pipeline.read(b.outputs[s]) if s in b.outputs else b"" for s in sets]
            byte_identical += raw_a == raw_b
            same_but_trace_ids += [without_trace_ids(r) for r in raw_a] == [
                without_trace_ids(r) for r in raw_b
            ]
            parsed_equal = all(
                comparable(pipeline, a, s) == comparable(pipeline, b, s) for s in sets
            )
            equal_parsed += parsed_equal
            if not parsed_equal:
                lost.append(f"{name}: results differ from the fault-free run")

    n = len(files)
    figures.add(
        "faults",
        "status+download calls / faults injected",
        f"{calls} / {injected} ({100 * injected / max(calls, 1):.0f}%)",
        "~30% faulty",
        injected > 0,
    )
    figures.add("faults", "jobs lost or changed", len(lost), 0, not lost)
    figures.add(
        "faults",
        "results equal to fault-free run (TraceId aside)",
        f"{equal_parsed}/{n}",
        f"{n}/{n}",
        equal_parsed == n,
    )
    figures.add(
        "faults",
        "results byte-identical, TraceIds blanked",
        f"{same_but_trace_ids}/{n}",
        f"{n}/{n}",
        same_but_trace_ids == n,
    )
    figures.add(
        "faults",
        "results byte-identical as stored",
        f"{byte_identical}/{n}",
        f"{n}/{n}",
        byte_identical == n,
    )
    assert injected > 0 and byte_identical == n
    assert not lost, lost


def test_hostile_inputs_are_rejected_cleanly(figures, capfd):
    corpus = cases()
    with scenario(options(), capfd) as pipeline:
        outcomes = [drop_and_check(pipeline, case) for case in corpus]
        health = drop_and_check(pipeline, next(c for c in corpus if c.kind == "crlf-line-endings"))
        errors = [i for i in pipeline.lambdas.invocations if i.error_type]

    rejected = [o for o in outcomes if o.case.expect == "rejected"]
    accepted = [o for o in outcomes if o.case.expect == "completed"]
    clean_rejections = sum(o.clean for o in rejected)
    provider_calls = sum(o.provider_jobs_created for o in rejected)
    figures.add(
        "hostile",
        "hostile inputs tried -> rejected cleanly",
        f"{len(rejected)} -> {clean_rejections}",
        f"{len(rejected)} -> {len(rejected)}",
        clean_rejections == len(rejected),
    )
    figures.add(
        "hostile",
        "provider jobs created for rejected files",
        provider_calls,
        0,
        provider_calls == 0,
    )
    figures.add(
        "hostile",
        "odd but valid inputs -> completed as expected",
        f"{len(accepted)} -> {sum(o.clean for o in accepted)}",
        f"{len(accepted)} -> {len(accepted)}",
        all(o.clean for o in accepted),
    )
    figures.add("hostile", "function errors (Lambda retries)", len(errors), 0, not errors)
    figures.add("hostile", "good file afterwards", health.status, "COMPLETED", health.clean)
    assert all(o.clean for o in outcomes), [
        f"{o.case.kind}: {o.problems}" for o in outcomes if not o.clean
    ]
    assert health.clean and not errors


MEMORY_LIMIT = 512 * 1024 * 1024  # a Lambda's memory can be this small
TIME_LIMIT = 60.0  # and no file under 1 MB deserves more


# The CLI in a child that caps its own address space at 1 GiB and, at exit, writes its peak
# resident memory (VmHWM, of its own address space) to the file named by PEAK_FILE. The
# rusage of a child counts the parent's resident memory at the fork, whatever the child uses.
_CAPPED_CLI = """
import atexit, os, resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
def peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(peak)
sys.argv = ["geocode-dataflow", *sys.argv[1:]]
runpy.run_module("geocode_dataflow", run_name="__main__")
"""


def _measured(args: list[str], stderr: Path, timeout: float = 120.0) -> tuple[int, float, int]:
    """(exit code, seconds, peak RSS bytes) of one CLI run in a child capped at 1 GiB.

    The child caps itself before it imports anything: a cap set between fork and exec
    (``preexec_fn``) would make the child's peak RSS that of this (large) test process."""
    start = time.perf_counter()
    peak_file = stderr.with_suffix(".peak")
    with stderr.open("wb") as errors:
        child = subprocess.Popen(  # noqa: S603 - our own CLI on our own files
            [sys.executable, "-c", _CAPPED_CLI, *args],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env={**os.environ, "PEAK_FILE": str(peak_file)},
        )
    timer = threading.Timer(timeout, child.kill)
    timer.start()
    try:
        _, status, _usage = os.wait4(child.pid, 0)
    finally:
        timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    # No peak written: the child died before its exit handlers ran (counted as too big).
    peak = int(peak_file.read_text()) * 1024 if peak_file.exists() else 1 << 40
    return child.returncode, time.perf_counter() - start, peak


def test_no_small_input_makes_validate_or_convert_exceed_lambda_limits(figures, tmp_path):
    """Every hostile case under 1 MB, through ``validate`` and ``convert`` in a child process:
    its peak memory and time (the submit function runs the same validation)."""
    corpus = [c for c in cases() if len(c.data) < 1024 * 1024]
    worst_memory, worst_time, crashed = 0, 0.0, []
    for case in corpus:
        path = tmp_path / case.kind / case.filename
        path.parent.mkdir(parents=True)
        path.write_bytes(case.data)
        target = "csv" if path.name.lower().split(".")[-1] in ("xml", "gz") else "xml"
        for args in (
            ["validate", str(path)],
            ["convert", str(path), "--to", target, "-o", str(path.parent / f"out.{target}")],
        ):
            stderr = path.parent / f"{args[0]}.stderr"
            code, seconds, peak = _measured(args, stderr)
            worst_memory, worst_time = max(worst_memory, peak), max(worst_time, seconds)
            traceback = "Traceback" in stderr.read_text(errors="replace")
            if code < 0 or traceback or peak > MEMORY_LIMIT:  # killed, crashed, or too big
                crashed.append(f"{case.kind} {args[0]}: exit {code}, {peak >> 20} MiB")
    figures.add(
        "limits",
        "hostile inputs < 1 MB through validate and convert",
        len(corpus) * 2,
        len(corpus) * 2,
        True,
    )
    figures.add("limits", "killed, crashed or over 512 MiB", len(crashed), 0, not crashed)
    figures.add(
        "limits",
        "peak memory of any run (MiB)",
        worst_memory >> 20,
        f"< {MEMORY_LIMIT >> 20}",
        worst_memory < MEMORY_LIMIT,
    )
    figures.add(
        "limits",
        "worst time of any run (s)",
        f"{worst_time:.1f}",
        f"< {TIME_LIMIT:.0f}",
        worst_time < TIME_LIMIT,
    )
    assert not crashed, crashed
    assert worst_memory < MEMORY_LIMIT and worst_time < TIME_LIMIT


def test_key_appears_nowhere(figures, capfd):
    with scenario(options(), capfd) as pipeline:
        records = run_secret_scenario(pipeline, KEY, WRONG_KEY)
    outcomes = {name: (r.status, (r.error or {}).get("type")) for name, r in records.items()}
    figures.add(
        "secrets",
        "job endings exercised",
        len(outcomes),
        len(EXPECTED_OUTCOMES),
        outcomes == EXPECTED_OUTCOMES,
    )
    # Runs last: SECRET_HITS holds the search of every scenario's pipeline, this one included.
    figures.add(
        "secrets", "key occurrences found (all scenarios)", len(SECRET_HITS), 0, not SECRET_HITS
    )
    assert outcomes == EXPECTED_OUTCOMES
    assert not SECRET_HITS, SECRET_HITS[:10]
