"""The job record: one DynamoDB item per input object version, and its state transitions.

Statuses: RECEIVED (claimed by a submit invocation) -> REJECTED (file-level errors, no provider
call) | QUEUED (valid, waiting for a provider slot) | PENDING (provider job created, execution
running) -> COMPLETED | FAILED; CANCELLED from any state that is not final. REJECTED,
COMPLETED, FAILED and CANCELLED are final: no transition leaves them, which is what makes
duplicate events and repeated failure notifications harmless.

Two kinds of job share the table, the statuses and the metrics (``kind``): a geocode job (a
dropped file) and a data source backup (a Data Source Download, ``pipeline.backup``), which goes
from PENDING to COMPLETED or FAILED.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

RECEIVED = "RECEIVED"
QUEUED = "QUEUED"
REJECTED = "REJECTED"
PENDING = "PENDING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
FINAL_STATUSES = frozenset({REJECTED, COMPLETED, FAILED, CANCELLED})
GEOCODE = "geocode"
DATASOURCE_BACKUP = "datasource-backup"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_job_id(bucket: str, key: str, version: str) -> str:
    """A stable id for one version of one input object, usable as an execution name.

    The same object version always maps to the same id (so a duplicate event finds its job),
    a new version maps to a new id (so a changed file is a new job). ``version`` is the S3
    version id, or the ETag when the bucket is not versioned.
    """
    digest = hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:20]
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40] or "input"
    return f"{slug}-{digest}"


@dataclass
class InputObject:
    bucket: str
    key: str
    version_id: str | None = None  # None when the bucket is not versioned
    etag: str | None = None
    size: int | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class JobRecord:
    job_id: str
    status: str
    input: InputObject
    created_at: str
    updated_at: str
    input_format: str | None = None
    # The input's Data Schema version ("2.0", "1.0"), as validated; None for a plain table.
    # Result sets are written in it, as the service writes them.
    schema_version: str | None = None
    provider: str | None = None
    provider_job_id: str | None = None
    total_entities: int | None = None
    geocode_entities: int | None = None
    reverse_entities: int | None = None
    processed_entities: int | None = None
    succeeded_entities: int | None = None
    failed_entities: int | None = None
    provider_requests: int | None = None
    status_checks: int = 0
    submitted_at: str | None = None
    last_checked_at: str | None = None
    completed_at: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] | None = None  # the match summary (results.summarise)
    parts: list[str] | None = None  # a file split over provider jobs: its parts' job ids
    parent_job_id: str | None = None  # a part: the job it is part of
    part: int | None = None  # a part: its number, from 1
    rejection_report: str | None = None
    queued_reason: str | None = None
    validation_attempts: int = 0  # validations started (see submit.MAX_VALIDATION_ATTEMPTS)
    validation_error: dict[str, str] | None = None  # why the last one ended without a report
    error: dict[str, str] | None = None
    expires_at: int | None = None
    kind: str = GEOCODE  # records written before kinds existed are geocode jobs
    data_source: dict[str, str] | None = None  # a backup: access_id, name, version asked for
    content_digest: str | None = None  # a backup: sha256 of the provider's XML
    unchanged_since: str | None = None  # a backup with nothing new: the backup it equals

    @property
    def output_version(self) -> str:
        """The Data Schema version of the job's result sets (2.0 for a plain table)."""
        return self.schema_version or "2.0"

    def to_document(self) -> dict[str, Any]:
        """The record as written to job.json and shown to people."""
        doc = asdict(self)
        doc["input"]["uri"] = self.input.uri
        doc.pop("expires_at", None)
        return doc

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> JobRecord:
        data = {k: _plain(v) for k, v in item.items()}
        data["input"] = InputObject(**data["input"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the record uses int."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class JobAlreadyExistsError(Exception):
    """The job id is already recorded: a duplicate delivery of the same object version."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(f"job {record.job_id} already exists with status {record.status}")
        self.record = record


STATUS_INDEX = "status-created_at-index"


class JobStore:
    """Job records in the DynamoDB jobs table (partition key ``job_id``)."""

    def __init__(self, table: Any, *, retention_days: int = 400) -> None:
        self._table = table
        self._retention = timedelta(days=retention_days)

    def get(self, job_id: str) -> JobRecord | None:
        item = self._table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return JobRecord.from_item(item) if item else None

    def with_status(self, status: str, limit: int = 25) -> list[JobRecord]:
        """Oldest first, through the status index."""
        response = self._table.query(
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": status},
            ScanIndexForward=True,
            Limit=limit,
        )
        return [JobRecord.from_item(item) for item in response.get("Items", [])]

    def claim(self, job_id: str, source: InputObject) -> JobRecord:
        """Create the record in RECEIVED, or raise JobAlreadyExistsError with the existing one.

        The claim counts as the first validation attempt: the claimant validates next.
        """
        now = iso(utc_now())
        record = JobRecord(
            job_id=job_id,
            status=RECEIVED,
            input=source,
            created_at=now,
            updated_at=now,
            validation_attempts=1,
        )
        item = _item(asdict(record))
        item["input"] = _item(asdict(source))
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(job_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.get(job_id)
            if existing is None:  # deleted in between: extremely unlikely, retry the claim
                raise
            raise JobAlreadyExistsError(existing) from exc
        return record

    def create(self, record: JobRecord) -> bool:
        """Write a new record; False when one with its id exists already (a retried start)."""
        item = _item(asdict(record))
        item["input"] = _item(asdict(record.input))
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(job_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def begin_validation(self, record: JobRecord) -> int | None:
        """Count one more validation attempt of a claim nobody validated, as ``record`` saw it.

        Returns the attempt's number, or None when the record changed since it was read
        (another invocation resumed it first): exactly one resumer validates.
        """
        try:
            response = self._table.update_item(
                Key={"job_id": record.job_id},
                UpdateExpression="SET updated_at = :now ADD validation_attempts :one "
                "REMOVE validation_error",
                ConditionExpression="#s = :received AND updated_at = :seen",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":now": iso(utc_now()),
                    ":one": 1,
                    ":received": RECEIVED,
                    ":seen": record.updated_at,
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return int(response["Attributes"]["validation_attempts"])

    def update(
        self, job_id: str, *, allowed_from: frozenset[str] | None = None, **values: Any
    ) -> bool:
        """Set ``values`` on the record. With ``allowed_from``, only when the current status is
        one of those (returns False otherwise): the guard that keeps final states final."""
        values["updated_at"] = iso(utc_now())
        if values.get("status") in FINAL_STATUSES:
            values["expires_at"] = int((utc_now() + self._retention).timestamp())
        names = {f"#{k}": k for k in values}
        vals = {f":{k}": v for k, v in values.items()}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        kwargs: dict[str, Any] = {
            "Key": {"job_id": job_id},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": vals,
            "ConditionExpression": "attribute_exists(job_id)",
        }
        if allowed_from is not None:
            options = {f":from{i}": s for i, s in enumerate(sorted(allowed_from))}
            names["#current_status"] = "status"
            vals.update(options)
            kwargs["ConditionExpression"] += f" AND #current_status IN ({', '.join(options)})"
        try:
            self._table.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
