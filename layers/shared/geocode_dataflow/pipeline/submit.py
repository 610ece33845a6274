"""Submit: a file dropped under the input prefix becomes a provider job and an execution.

1. Claim a job record for this object version (a duplicate event stops here).
2. Validate the file, streamed from S3. File-level errors: a rejection report under the
   rejected prefix, record REJECTED, and no call to the provider.
3. Create the provider job with the file streamed from S3 (gunzipped and transcoded to UTF-8 on
   the way, never whole in memory); the job's description is our job id, which is how a job
   created by an invocation that then crashed is found again instead of created twice.
4. Record PENDING with the counts and start the state machine execution named after the job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from geocode_dataflow.client import DataflowClient
from geocode_dataflow.errors import PermanentError, TransientError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import InputObject, JobAlreadyExistsError, JobStore
from geocode_dataflow.pipeline.observability import MetricUnit, bind_job, logger, metrics
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.schema import Limits, utf8_chunks, validate_feed

# A claim older than this (the submit function's maximum run time plus a margin) belongs to an
# invocation that died; the next delivery of the event may take the job over.
STALE_CLAIM = timedelta(minutes=16)


class ClaimBusyError(TransientError):
    """Another invocation holds the claim on this job; the event is retried later."""


@dataclass(frozen=True)
class SubmitOutcome:
    job_id: str
    status: str
    detail: str


def input_name(key: str, input_prefix: str) -> str:
    """The object key below the input prefix, e.g. ``inbox/a/b.csv`` -> ``a/b.csv``."""
    return key[len(input_prefix):] if key.startswith(input_prefix) else key


def state_for_execution(job_id: str, provider_job_id: str, config: PipelineConfig) -> dict[str, Any]:
    """The state machine's input: everything the poll loop needs, nothing secret."""
    return {
        "job_id": job_id,
        "provider_job_id": provider_job_id,
        "attempt": 0,
        "max_attempts": config.max_status_checks,
        "wait_seconds": int(config.initial_wait_seconds),
    }


def submit_object(
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    config: PipelineConfig,
    objects: ObjectStore,
    store: JobStore,
    sfn: Any,
    client_factory: Callable[[], DataflowClient],
) -> SubmitOutcome:
    head = objects.head(key, version_id)
    etag = str(head.get("ETag", "")).strip('"') or None
    version_id = version_id or head.get("VersionId")
    if version_id == "null":
        version_id = None
    source = InputObject(bucket=bucket, key=key, version_id=version_id, etag=etag, size=head.get("ContentLength"))
    job_id = jobs.make_job_id(bucket, key, version_id or etag or "")
    bind_job(job_id)

    taking_over = False
    try:
        store.claim(job_id, source)
    except JobAlreadyExistsError as exc:
        existing = exc.record
        if existing.status == jobs.PENDING and existing.provider_job_id:
            # The job exists; make sure its execution does too (StartExecution is idempotent).
            state = state_for_execution(job_id, existing.provider_job_id, config)
            _start_execution(sfn, config, job_id, state)
            return SubmitOutcome(job_id, existing.status, "duplicate delivery")
        if existing.status != jobs.RECEIVED:
            logger.info("Duplicate delivery ignored", extra={"status": existing.status})
            return SubmitOutcome(job_id, existing.status, "duplicate delivery")
        if not _is_stale(existing):
            raise ClaimBusyError(f"job {job_id} is being submitted by another invocation") from exc
        logger.warning("Taking over a stale claim", extra={"claimed_at": existing.updated_at})
        taking_over = store.update(job_id, allowed_from=frozenset({jobs.RECEIVED}), status=jobs.RECEIVED)
        if not taking_over:
            raise ClaimBusyError(f"job {job_id} was taken over by another invocation") from exc

    try:
        report = validate_feed(objects.open(key, version_id), key, limits=Limits(max_entities=config.max_entities))
        if not report.valid:
            return _reject(job_id, key, report, config=config, objects=objects, store=store)
        client = client_factory()
        provider_job = _find_existing_provider_job(client, job_id) if taking_over else None
        if provider_job is None:
            chunks = utf8_chunks(objects.open(key, version_id), key)
            provider_job = client.create_job(chunks, report.format, description=job_id)
            logger.info("Provider job created", extra={"provider_job_id": provider_job.id})
        else:
            logger.warning("Adopting the provider job of an earlier attempt", extra={"provider_job_id": provider_job.id})
    except PermanentError as exc:
        # A bad key or a request the service refuses: retrying the event cannot help.
        return _fail(job_id, exc, store=store)
    except Exception:
        store.release(job_id)
        raise

    store.update(
        job_id,
        status=jobs.PENDING,
        provider_job_id=provider_job.id,
        input_format=report.format,
        total_entities=report.entity_count,
        geocode_entities=report.geocode_count,
        reverse_entities=report.reverse_count,
        submitted_at=jobs.iso(jobs.utc_now()),
    )
    _start_execution(sfn, config, job_id, state_for_execution(job_id, provider_job.id, config))
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EntitiesSubmitted", unit=MetricUnit.Count, value=report.entity_count)
    return SubmitOutcome(job_id, jobs.PENDING, f"provider job {provider_job.id}")


def _fail(job_id: str, exc: Exception, *, store: JobStore) -> SubmitOutcome:
    reason = {"type": type(exc).__name__, "message": str(exc)}
    store.update(job_id, status=jobs.FAILED, error=reason, completed_at=jobs.iso(jobs.utc_now()))
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    logger.error("Submission failed", extra={"error_type": reason["type"], "reason": reason["message"]})
    return SubmitOutcome(job_id, jobs.FAILED, reason["message"])


def _is_stale(record: jobs.JobRecord) -> bool:
    claimed = jobs.parse_iso(record.updated_at)
    return jobs.utc_now() - claimed > STALE_CLAIM


def _find_existing_provider_job(client: DataflowClient, job_id: str) -> Any | None:
    for job in client.list_jobs():
        if job.description == job_id and job.status in ("Pending", "Completed"):
            return job
    return None


def _reject(job_id: str, key: str, report: Any, *, config: PipelineConfig, objects: ObjectStore, store: JobStore) -> SubmitOutcome:
    report_key = f"{config.rejected_prefix}{input_name(key, config.input_prefix)}/{job_id}/rejection.json"
    document = {
        "job_id": job_id,
        "status": jobs.REJECTED,
        "input": objects.uri(key),
        "summary": f"The file was rejected before anything was sent to the geocoding service: "
        f"{len(report.errors)} file-level error(s).",
        "report": report.to_dict(),
    }
    objects.put_json(report_key, document)
    first = report.errors[0].message if report.errors else "invalid file"
    store.update(
        job_id,
        status=jobs.REJECTED,
        input_format=report.format,
        rejection_report=objects.uri(report_key),
        error={"type": "InvalidFeedError", "message": first},
        completed_at=jobs.iso(jobs.utc_now()),
    )
    metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    logger.warning("File rejected", extra={"errors": len(report.errors), "first_error": first})
    return SubmitOutcome(job_id, jobs.REJECTED, first)


def _start_execution(sfn: Any, config: PipelineConfig, job_id: str, state: dict[str, Any]) -> None:
    try:
        sfn.start_execution(stateMachineArn=config.state_machine_arn, name=job_id, input=json.dumps(state))
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("Execution already started")
