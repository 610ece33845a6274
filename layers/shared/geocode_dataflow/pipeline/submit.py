"""Submit: a file dropped under the input prefix becomes a provider job and an execution.

1. Claim a job record for this object version: the job id is derived from the bucket, key and
   version, so a duplicate event finds the record and stops (one provider job per version).
2. Validate the file, streamed from S3. File-level errors: a rejection report under the
   rejected prefix, record REJECTED, and no call to the provider.
3. Take a provider slot (``slots``). None free: the record says QUEUED and why, and the
   dispatcher starts it when a slot frees.
4. Start: create the provider job (``providers``: the Bing service gets the file streamed from
   S3; for a synchronous provider the pipeline's own engine splits it into chunks and runs
   them), record PENDING and start the state machine execution named after the job. The
   provider job of an invocation that crashed is found again instead of created twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from geocode_dataflow.errors import PermanentError, QuotaExceededError, TransientError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import InputObject, JobAlreadyExistsError, JobRecord, JobStore
from geocode_dataflow.pipeline.observability import MetricUnit, bind_job, logger, metrics
from geocode_dataflow.pipeline.slots import ProviderSlots
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import JobProvider
from geocode_dataflow.schema import Limits, validate_feed

# A claim older than this (the submit function's maximum run time plus a margin) belongs to an
# invocation that died; the next delivery of the event, or the dispatcher, takes the job over.
STALE_CLAIM = timedelta(minutes=16)


@dataclass(frozen=True)
class SubmitOutcome:
    job_id: str
    status: str
    detail: str


@dataclass
class Services:
    """What submitting and starting jobs talks to (built by the handler's runtime)."""

    config: PipelineConfig
    objects: ObjectStore
    store: JobStore
    slots: ProviderSlots
    sfn: Any
    provider_factory: Callable[[], JobProvider]


def input_name(key: str, input_prefix: str) -> str:
    """The object key below the input prefix, e.g. ``inbox/a/b.csv`` -> ``a/b.csv``."""
    return key[len(input_prefix) :] if key.startswith(input_prefix) else key


def state_for_execution(
    job_id: str, provider_job_id: str, config: PipelineConfig
) -> dict[str, Any]:
    """The state machine's input: everything the poll loop needs, nothing secret."""
    return {
        "job_id": job_id,
        "provider_job_id": provider_job_id,
        "attempt": 0,
        "max_attempts": config.max_status_checks,
        "wait_seconds": int(config.initial_wait_seconds),
    }


def submit_object(
    bucket: str, key: str, version_id: str | None, services: Services
) -> SubmitOutcome:
    config, objects, store = services.config, services.objects, services.store
    head = objects.head(key, version_id)
    etag = str(head.get("ETag", "")).strip('"') or None
    version_id = version_id or head.get("VersionId")
    if version_id == "null":
        version_id = None
    source = InputObject(
        bucket=bucket, key=key, version_id=version_id, etag=etag, size=head.get("ContentLength")
    )
    job_id = jobs.make_job_id(bucket, key, version_id or etag or "")
    bind_job(job_id)

    try:
        store.claim(job_id, source)
    except JobAlreadyExistsError as exc:
        return _on_duplicate(exc.record, services)

    try:
        limits = Limits(max_entities=config.max_entities, max_bytes=config.max_file_bytes)
        report = validate_feed(objects.open(key, version_id), key, limits=limits)
    except Exception:
        store.release(job_id)  # let the retried event start over
        raise
    if not report.valid:
        return _reject(job_id, key, report, services)

    store.update(
        job_id,
        provider=config.provider,
        input_format=report.format,
        total_entities=report.entity_count,
        geocode_entities=report.geocode_count,
        reverse_entities=report.reverse_count,
    )
    metrics.add_metric(name="EntitiesSubmitted", unit=MetricUnit.Count, value=report.entity_count)
    decision = services.slots.try_acquire(job_id)
    if not decision.acquired:
        store.update(
            job_id,
            allowed_from=frozenset({jobs.RECEIVED}),
            status=jobs.QUEUED,
            queued_reason=decision.reason,
        )
        metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
        logger.info("Job queued", extra={"reason": decision.reason})
        return SubmitOutcome(job_id, jobs.QUEUED, decision.reason or "queued")
    record = store.get(job_id)
    assert record is not None
    return start_job(record, services, adopt=False)


def start_job(record: JobRecord, services: Services, *, adopt: bool) -> SubmitOutcome:
    """Create the provider job for a validated record (RECEIVED, holding a slot), then run it.

    Each step is recorded before the next one, so an invocation that dies anywhere leaves a
    claim that ``resume_stale`` continues without creating a second provider job: the provider
    job id is saved before the execution starts (which is idempotent by name), and the record
    turns PENDING last. With ``adopt``, a provider job whose description is our job id (created
    by an attempt that died before saving its id) is used instead of creating another.
    """
    config, store, job_id = services.config, services.store, record.job_id
    bind_job(job_id)
    if not record.input_format:
        raise ValueError(f"job {job_id} was not validated; it cannot be started")
    provider_job_id = record.provider_job_id
    if provider_job_id is None:
        try:
            provider_job_id = _create_or_adopt(record, services, adopt=adopt)
        except PermanentError as exc:
            # A bad key or a request the service refuses: retrying cannot help.
            services.slots.release(job_id, not_started=True)
            return _fail(job_id, exc, store)
        except TransientError as exc:
            # The provider is busy or unreachable (after the client's own retries). Give the
            # slot back and queue the job: the dispatcher retries it, adopting the provider job
            # if the create reached the service after all. A quota refusal created nothing.
            services.slots.release(job_id, not_started=isinstance(exc, QuotaExceededError))
            reason = f"the provider could not take the job yet ({type(exc).__name__}); it will be retried"
            store.update(
                job_id,
                allowed_from=frozenset({jobs.RECEIVED}),
                status=jobs.QUEUED,
                queued_reason=reason,
            )
            logger.warning("Job queued after a transient provider error", extra={"error": str(exc)})
            return SubmitOutcome(job_id, jobs.QUEUED, reason)
        store.update(
            job_id, allowed_from=frozenset({jobs.RECEIVED}), provider_job_id=provider_job_id
        )

    _start_execution(services, job_id, state_for_execution(job_id, provider_job_id, config))
    store.update(
        job_id,
        allowed_from=frozenset({jobs.RECEIVED}),
        status=jobs.PENDING,
        submitted_at=jobs.iso(jobs.utc_now()),
        queued_reason=None,
    )
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    return SubmitOutcome(job_id, jobs.PENDING, f"provider job {provider_job_id}")


def _create_or_adopt(record: JobRecord, services: Services, *, adopt: bool) -> str:
    provider = services.provider_factory()
    found = provider.find_job(record.job_id) if adopt else None
    if found is not None:
        logger.warning(
            "Adopting the provider job of an earlier attempt", extra={"provider_job_id": found}
        )
        return found
    created = provider.create_job(record)
    logger.info("Provider job created", extra={"provider_job_id": created})
    return created


def _on_duplicate(existing: JobRecord, services: Services) -> SubmitOutcome:
    job_id = existing.job_id
    if existing.status == jobs.PENDING and existing.provider_job_id:
        # The job exists; make sure its execution does too (StartExecution is idempotent).
        state = state_for_execution(job_id, existing.provider_job_id, services.config)
        _start_execution(services, job_id, state)
        return SubmitOutcome(job_id, existing.status, "duplicate delivery")
    if existing.status != jobs.RECEIVED:
        logger.info("Duplicate delivery ignored", extra={"status": existing.status})
        return SubmitOutcome(job_id, existing.status, "duplicate delivery")
    if not is_stale(existing):
        # Another invocation is on it; if it dies, the scheduled dispatcher resumes the claim.
        return SubmitOutcome(job_id, existing.status, "being submitted by another invocation")
    return resume_stale(existing, services)


def resume_stale(record: JobRecord, services: Services) -> SubmitOutcome:
    """Continue a claim whose invocation died (timeout, out of memory).

    Validation never finished: forget the claim and submit the object again from the start.
    It did: queue the job, and the dispatcher starts it, using the provider job id if one was
    saved, or adopting the provider job an earlier attempt may have created.
    """
    store, job_id = services.store, record.job_id
    if not record.input_format:
        store.release(job_id)
        return submit_object(
            record.input.bucket, record.input.key, record.input.version_id, services
        )
    reason = "resumed after an interrupted submission"
    store.update(
        job_id, allowed_from=frozenset({jobs.RECEIVED}), status=jobs.QUEUED, queued_reason=reason
    )
    return SubmitOutcome(job_id, jobs.QUEUED, reason)


def is_stale(record: JobRecord) -> bool:
    return jobs.utc_now() - jobs.parse_iso(record.updated_at) > STALE_CLAIM


def _fail(job_id: str, exc: Exception, store: JobStore) -> SubmitOutcome:
    reason = {"type": type(exc).__name__, "message": str(exc)}
    store.update(job_id, status=jobs.FAILED, error=reason, completed_at=jobs.iso(jobs.utc_now()))
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    logger.error(
        "Submission failed", extra={"error_type": reason["type"], "reason": reason["message"]}
    )
    return SubmitOutcome(job_id, jobs.FAILED, reason["message"])


def _reject(job_id: str, key: str, report: Any, services: Services) -> SubmitOutcome:
    config, objects = services.config, services.objects
    report_key = (
        f"{config.rejected_prefix}{input_name(key, config.input_prefix)}/{job_id}/rejection.json"
    )
    document = {
        "job_id": job_id,
        "status": jobs.REJECTED,
        "input": objects.uri(key),
        "summary": "The file was rejected before anything was sent to the geocoding service: "
        f"{report.error_count} file-level error(s). Fix them and upload the file again.",
        "report": report.to_dict(),
    }
    objects.put_json(report_key, document)
    # The record keeps a readable excerpt: a message may quote a huge value (DynamoDB items
    # are limited to 400 KB); rejection.json has the whole report.
    first = (report.errors[0].message if report.errors else "invalid file")[:1000]
    services.store.update(
        job_id,
        status=jobs.REJECTED,
        input_format=report.format,
        rejection_report=objects.uri(report_key),
        error={"type": "InvalidFeedError", "message": first},
        completed_at=jobs.iso(jobs.utc_now()),
    )
    metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    logger.warning("File rejected", extra={"errors": report.error_count, "first_error": first})
    return SubmitOutcome(job_id, jobs.REJECTED, first)


def _start_execution(services: Services, job_id: str, state: dict[str, Any]) -> None:
    sfn = services.sfn
    try:
        sfn.start_execution(
            stateMachineArn=services.config.state_machine_arn, name=job_id, input=json.dumps(state)
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("Execution already started")
