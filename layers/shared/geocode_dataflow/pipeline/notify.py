"""Notifications: every job that ends is announced on EventBridge and, when set up, by email.

One event per final state (COMPLETED, FAILED, REJECTED, CANCELLED) on the account's default
event bus, source ``geocode-dataflow``, detail-type ``Geocode Job Ended``, the detail being
what a consumer needs without reading the table: status, input, counts, the match summary,
output URIs and the error. With a notification topic, the same as a readable email (SNS).
A notification that cannot be sent is logged and counted, never allowed to fail the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import GEOCODE, JobRecord
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics

SOURCE = "geocode-dataflow"
DETAIL_TYPE = "Geocode Job Ended"
_SUBJECT_LIMIT = 100  # SNS: ASCII, at most 100 characters, one line


def event_detail(record: JobRecord) -> dict[str, Any]:
    """The event's detail: the record's public facts (nothing secret is ever on a record)."""
    detail: dict[str, Any] = {
        "job_id": record.job_id,
        "status": record.status,
        # A data source backup says so (and which source); a geocode job has no kind here.
        "kind": None if record.kind == GEOCODE else record.kind,
        "data_source": record.data_source,
        "input": record.input.uri,
        "input_version": record.input.version_id,
        "provider": record.provider,
        "total_entities": record.total_entities,
        "succeeded_entities": record.succeeded_entities,
        "failed_entities": record.failed_entities,
        "summary": record.summary,
        "outputs": record.outputs,
        "rejection_report": record.rejection_report,
        "error": record.error,
        "created_at": record.created_at,
        "completed_at": record.completed_at,
    }
    return {k: v for k, v in detail.items() if v not in (None, {}, [])}


def email_text(record: JobRecord) -> tuple[str, str]:
    """(subject, body) of the email for a job that ended."""
    name = record.input.key.rsplit("/", 1)[-1]
    subject = f"Geocode job {record.status.lower()}: {name}"
    subject = subject.encode("ascii", "replace").decode("ascii").replace("\n", " ")
    if len(subject) > _SUBJECT_LIMIT:
        subject = subject[: _SUBJECT_LIMIT - 3] + "..."
    lines = [
        f"Job {record.job_id} ended {record.status}.",
        f"Input: {record.input.uri}",
    ]
    if record.total_entities is not None:
        lines.append(f"Entities: {record.total_entities}")
    summary = record.summary or {}
    for label in ("matched", "no_match", "failed"):
        if label in summary:
            lines.append(f"  {label.replace('_', ' ')}: {summary[label]}")
    if record.error:
        lines.append(f"Reason: {record.error.get('message', '')}")
    for name_, uri in sorted(record.outputs.items()):
        lines.append(f"{name_}: {uri}")
    if record.rejection_report:
        lines.append(f"Rejection report: {record.rejection_report}")
    return subject, "\n".join(lines) + "\n"


@dataclass
class Notifier:
    """Sends the end of a job to EventBridge (always) and SNS (when ``topic_arn`` is set)."""

    events: Any
    sns: Any = None
    topic_arn: str | None = None
    event_bus: str = "default"

    def job_ended(self, record: JobRecord) -> None:
        try:
            self._send(record)
        except Exception:  # noqa: BLE001 - a notification must never fail the job it announces
            metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=1)
            logger.warning("Could not send the job's notification", exc_info=True)

    def _send(self, record: JobRecord) -> None:
        response = self.events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(event_detail(record), default=str),
                    "EventBusName": self.event_bus,
                    "Resources": [],
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise RuntimeError(f"EventBridge refused the event: {entry.get('ErrorCode')}")
        if self.topic_arn and self.sns is not None:
            subject, body = email_text(record)
            self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=body)
        logger.info("Job end announced", extra={"status": record.status})


def notifier_for(config: PipelineConfig) -> Notifier:
    """The stack's notifier: its event bus, and its topic when NotificationEmail is set."""
    topic = config.notification_topic_arn
    return Notifier(
        events=boto3.client("events"),
        sns=boto3.client("sns") if topic else None,
        topic_arn=topic,
        event_bus=config.event_bus_name,
    )


class SilentNotifier:
    """No notifications (tests that do not look at them)."""

    def job_ended(self, record: JobRecord) -> None:
        return None


def announce(services: Any, job_id: str) -> None:
    """Announce the job's end as its record now stands (``services``: submit.Services)."""
    try:
        record = services.store.get(job_id)
    except Exception:  # noqa: BLE001 - as in Notifier.job_ended: never fail the job
        logger.warning("Could not read the job to announce its end", exc_info=True)
        return
    if record is not None:
        services.notifier.job_ended(record)
