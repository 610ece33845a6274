"""Search everything a LocalPipeline produced for a secret: logs, S3, DynamoDB, executions.

Shared by test_secrets.py and the reliability suite (which loads this file by path). The only
places allowed to hold the key are the secret itself and the provider (the emulator).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from hostile_corpus import good_csv, text_feed

# What each job of ``run_secret_scenario`` ends as: (status, error type).
EXPECTED_OUTCOMES = {
    "completed.csv": ("COMPLETED", None),
    "rejected.csv": ("REJECTED", "InvalidFeedError"),
    "aborted.csv": ("FAILED", "JobAbortedError"),
    "vanished.csv": ("FAILED", "JobNotFoundError"),
    "flaky.csv": ("COMPLETED", None),
    "wrong-key.csv": ("FAILED", "AuthenticationError"),
}


def forms(secret: str) -> set[str]:
    """The ways a secret can show up in text: as is, URL-encoded, lower/upper case, base64."""
    found = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        secret.lower(),
        secret.upper(),
        base64.b64encode(secret.encode()).decode().rstrip("="),
        json.dumps(secret)[1:-1],
    }
    return {f for f in found if f}


@dataclass
class Hit:
    where: str
    form: str
    excerpt: str


@dataclass
class ScanResult:
    hits: list[Hit] = field(default_factory=list)
    places: dict[str, int] = field(default_factory=dict)  # kind of place -> how many were searched

    def count(self, kind: str, n: int = 1) -> None:
        self.places[kind] = self.places.get(kind, 0) + n


class LogCollector(logging.Handler):
    """Every log record of every logger at INFO and above (what Lambda would keep), formatted."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # noqa: BLE001 - a broken record is still searched
            text = f"{record.msg!r} {record.args!r} {exc}"
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + repr(record.exc_info[1])
        self.lines.append(text)

    def __enter__(self) -> LogCollector:
        root = logging.getLogger()
        self._previous = root.level
        root.addHandler(self)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._previous)


def _search(text: str, where: str, needles: set[str], result: ScanResult) -> None:
    for needle in needles:
        at = text.find(needle)
        if at >= 0:
            result.hits.append(Hit(where, needle, text[max(0, at - 60) : at + len(needle) + 20]))


def _dump(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def scan_pipeline(
    pipeline, secrets: list[str], *, extra_text: dict[str, str] | None = None
) -> ScanResult:
    """Search ``pipeline`` for every form of every secret (see ``forms``)."""
    needles = set().union(*(forms(s) for s in secrets))
    result = ScanResult()

    for i, invocation in enumerate(pipeline.lambdas.invocations):
        where = f"invocation {i} {invocation.function}"
        _search(invocation.output, f"{where} output", needles, result)
        _search(_dump(invocation.event), f"{where} event", needles, result)
        _search(_dump(invocation.result), f"{where} result/exception", needles, result)
    result.count("lambda invocations (output, event, result)", len(pipeline.lambdas.invocations))

    s3 = pipeline.client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            for version in page.get("Versions", []):
                body = s3.get_object(
                    Bucket=name, Key=version["Key"], VersionId=version["VersionId"]
                )["Body"].read()
                text = body.decode("utf-8", "replace")
                _search(text, f"s3://{name}/{version['Key']}", needles, result)
                _search(version["Key"], f"s3 key {version['Key']}", needles, result)
                result.count("S3 object versions")

    dynamodb = pipeline.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                _search(_dump(item), f"dynamodb {table} {item.get('job_id')}", needles, result)
                result.count("DynamoDB items")

    sfn = pipeline.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        arn = machine["stateMachineArn"]
        _search(
            _dump(sfn.describe_state_machine(stateMachineArn=arn)),
            f"state machine {arn}",
            needles,
            result,
        )
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for execution in page["executions"]:
                execution_arn = execution["executionArn"]
                _search(
                    _dump(sfn.describe_execution(executionArn=execution_arn)),
                    execution_arn,
                    needles,
                    result,
                )
                events = []
                for history in sfn.get_paginator("get_execution_history").paginate(
                    executionArn=execution_arn
                ):
                    events.extend(history["events"])
                _search(_dump(events), f"history {execution_arn}", needles, result)
                result.count("executions (description and history)")
                result.count("history events", len(events))

    for where, text in (extra_text or {}).items():
        _search(text, where, needles, result)
        result.count("other text (captured stdout/stderr, log records, exceptions)")
    return result


def run_secret_scenario(pipeline, key: str, wrong_key: str) -> dict[str, Any]:
    """One job of each ending (EXPECTED_OUTCOMES), the last with ``wrong_key`` in the secret;
    returns the final record of each by file name."""
    from aws_lambda_powertools.utilities import parameters
    from dataflow_emulator import FaultConfig

    records: dict[str, Any] = {}

    def run(name: str, data: bytes, faults: FaultConfig | None = None) -> None:
        pipeline.emulator.set_faults(faults or FaultConfig())
        try:
            records[name] = pipeline.wait(pipeline.drop(data, name), timeout=120)
        finally:
            pipeline.emulator.set_faults(FaultConfig())

    run("completed.csv", good_csv("c", 3))
    run("rejected.csv", text_feed(["r1,en-US,Paris", "r1,en-US,Rome"]).encode())
    run("aborted.csv", good_csv("a", 2), FaultConfig(abort_rate=1.0))
    run("vanished.csv", good_csv("v", 2), FaultConfig(vanish_rate=1.0))
    flaky = FaultConfig(error_rate={"*": 0.3}, reset_rate={"status": 0.2, "download": 0.2})
    run("flaky.csv", good_csv("f", 3), flaky)

    secrets = pipeline.client("secretsmanager")
    secrets.put_secret_value(SecretId=pipeline.secret_arn, SecretString=wrong_key)
    parameters.clear_caches()
    pipeline.lambdas.recycle()  # warm environments keep the cached key, as on Lambda
    try:
        run("wrong-key.csv", good_csv("w", 2))
    finally:
        secrets.put_secret_value(SecretId=pipeline.secret_arn, SecretString=key)
        parameters.clear_caches()
        pipeline.lambdas.recycle()
    return records
