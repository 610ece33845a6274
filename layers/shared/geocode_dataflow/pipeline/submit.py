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

For Bing, the read that validates the file also spools its upload body (``BodySpool``): a
file started at once is sent without reading S3 again. A file that waits in the queue or is
split into parts, and one that is gunzipped, transcoded or converted from a plain table
before sending, is read again when it is started.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from geocode_dataflow.client.upload import UploadBody
from geocode_dataflow.errors import PermanentError, QuotaExceededError, TransientError
from geocode_dataflow.pipeline import executions, jobs, parts
from geocode_dataflow.pipeline.body_spool import BodySpool
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import InputObject, JobAlreadyExistsError, JobRecord, JobStore
from geocode_dataflow.pipeline.notify import SilentNotifier, announce
from geocode_dataflow.pipeline.observability import MetricUnit, bind_job, logger, metrics
from geocode_dataflow.pipeline.slots import ProviderSlots
from geocode_dataflow.pipeline.storage import ObjectStore, job_folder
from geocode_dataflow.providers import JobProvider, input_mapping
from geocode_dataflow.schema import (
    FeedError,
    Limits,
    mapping_key,
    validate_feed,
)

# Validations of one file before it is rejected as one that cannot be validated (each may
# end by the function running out of memory or time, which no code of ours sees).
MAX_VALIDATION_ATTEMPTS = 3
_GONE = frozenset({"404", "NoSuchKey", "NoSuchVersion", "405", "MethodNotAllowed"})

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
    notifier: Any = field(default_factory=SilentNotifier)  # notify.Notifier in Lambda


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
        # Epoch seconds: the poll loop waits in proportion to the job's age.
        "submitted_at": round(jobs.utc_now().timestamp(), 3),
    }


def submit_object(
    bucket: str, key: str, version_id: str | None, services: Services
) -> SubmitOutcome:
    objects, store = services.objects, services.store
    try:
        head = objects.head(key, version_id)
    except ClientError as exc:
        if _error_code(exc) not in _GONE:
            raise
        return _skip_missing(bucket, key, version_id, services)
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
        record = store.claim(job_id, source)
    except JobAlreadyExistsError as exc:
        return _on_duplicate(exc.record, services)
    return _validate_and_start(record, services)


def _validate_and_start(record: JobRecord, services: Services) -> SubmitOutcome:
    """Validate a claimed file (this invocation counted the attempt), then start or queue it."""
    # Bing is sent the file whole: its body is spooled by the validating read. The engine
    # splits the file into chunks instead (a pass of its own).
    with BodySpool() if not services.config.uses_engine else nullcontext() as spool:
        return _validate_and_start_with(record, services, spool)


def _validate_and_start_with(
    record: JobRecord, services: Services, spool: BodySpool | None
) -> SubmitOutcome:
    config, objects, store, job_id = (
        services.config,
        services.objects,
        services.store,
        record.job_id,
    )
    key, version_id = record.input.key, record.input.version_id
    try:
        # A Bing file over the per-job entity limit is split into parts (``parts``).
        most = (
            config.max_entities
            if config.uses_engine
            else parts.file_entity_limit(config.max_entities)
        )
        limits = Limits(max_entities=most, max_bytes=config.max_file_bytes)
        try:
            mapping = input_mapping(objects, key)  # a plain table's sidecar, if any
        except FeedError as exc:
            return _reject_mapping(job_id, key, exc, services)
        copy_to = spool.write if spool else None
        with objects.open(key, version_id, copy_to=copy_to) as stream:
            report = validate_feed(stream, key, limits=limits, mapping=mapping)
            if spool and report.valid:
                spool.drain(stream)
    except Exception as exc:
        # Recorded, not forgotten: the retried event (or the dispatcher) validates again and
        # the attempt counter bounds the retries; a file that kills its validator (out of
        # memory or time) ends the same way, through the stale claim.
        error = {"type": type(exc).__name__, "message": str(exc)[:1000]}
        if record.validation_attempts >= MAX_VALIDATION_ATTEMPTS:
            return _abandon(record, services, error)
        store.update(job_id, allowed_from=frozenset({jobs.RECEIVED}), validation_error=error)
        raise
    if not report.valid:
        return _reject(job_id, key, report, services)

    store.update(
        job_id,
        provider=config.provider,
        input_format=report.format,
        schema_version=report.schema_version,
        total_entities=report.entity_count,
        geocode_entities=report.geocode_count,
        reverse_entities=report.reverse_count,
    )
    metrics.add_metric(name="EntitiesSubmitted", unit=MetricUnit.Count, value=report.entity_count)
    fresh = store.get(job_id)
    assert fresh is not None
    if _needs_parts(fresh, config):
        return _start_parts(fresh, services)
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
    body = spool.body(report, record.input.size) if spool else None
    return start_job(fresh, services, adopt=False, body=body)  # the slot is not on the record


def start_job(
    record: JobRecord, services: Services, *, adopt: bool, body: UploadBody | None = None
) -> SubmitOutcome:
    """Create the provider job for a validated record (RECEIVED, holding a slot), then run it.

    Each step is recorded before the next one, so an invocation that dies anywhere leaves a
    claim that ``resume_stale`` continues without creating a second provider job: the provider
    job id is saved before the execution starts (which is idempotent by name), and the record
    turns PENDING last. With ``adopt``, a provider job whose description is our job id (created
    by an attempt that died before saving its id) is used instead of creating another.
    ``body``: the upload the validating read spooled (``BodySpool``), sent instead of S3.
    """
    config, store, job_id = services.config, services.store, record.job_id
    bind_job(job_id)
    if not record.input_format:
        raise ValueError(f"job {job_id} was not validated; it cannot be started")
    if _needs_parts(record, config):
        services.slots.release(job_id, not_started=True)  # its parts take the slots
        return _start_parts(record, services)
    provider_job_id = record.provider_job_id
    if provider_job_id is None:
        try:
            provider_job_id = _create_or_adopt(record, services, adopt=adopt, body=body)
        except PermanentError as exc:
            # A bad key or a request the service refuses: retrying cannot help.
            services.slots.release(job_id, not_started=True)
            return _fail(job_id, exc, services)
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
        if not store.update(
            job_id, allowed_from=frozenset({jobs.RECEIVED}), provider_job_id=provider_job_id
        ):
            return _ended_while_starting(job_id, provider_job_id, services)

    _start_execution(services, job_id, state_for_execution(job_id, provider_job_id, config))
    if not store.update(
        job_id,
        allowed_from=frozenset({jobs.RECEIVED}),
        status=jobs.PENDING,
        submitted_at=jobs.iso(jobs.utc_now()),
        queued_reason=None,
    ):
        return _ended_while_starting(job_id, provider_job_id, services)
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    return SubmitOutcome(job_id, jobs.PENDING, f"provider job {provider_job_id}")


def _needs_parts(record: JobRecord, config: PipelineConfig) -> bool:
    """Over the provider's per-job entity limit (Bing; the engine has none), and not a part."""
    return (
        not config.uses_engine
        and record.parent_job_id is None
        and (record.total_entities or 0) > config.max_entities
    )


def _start_parts(record: JobRecord, services: Services) -> SubmitOutcome:
    """Split the file into parts, one QUEUED job each; the dispatcher starts them."""
    config, store, job_id = services.config, services.store, record.job_id
    children = parts.split(
        record,
        str(record.input_format),
        config.max_entities,
        services.objects,
        store,
        config.work_prefix,
    )
    if not store.update(
        job_id,
        allowed_from=frozenset({jobs.RECEIVED}),
        status=jobs.PENDING,
        parts=children,
        submitted_at=jobs.iso(jobs.utc_now()),
        queued_reason=None,
    ):
        current = store.get(job_id)
        return SubmitOutcome(job_id, current.status if current else "UNKNOWN", "ended meanwhile")
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    logger.info("Job split into parts", extra={"parts": len(children)})
    from geocode_dataflow.pipeline.dispatch import dispatch_queued  # imports this module

    dispatch_queued(services, resume=False)
    bind_job(job_id)
    return SubmitOutcome(
        job_id, jobs.PENDING, f"{len(children)} parts of at most {config.max_entities:,} entities"
    )


def _ended_while_starting(job_id: str, provider_job_id: str, services: Services) -> SubmitOutcome:
    """The job was cancelled while this invocation started it: undo what it started."""
    config, sfn = services.config, services.sfn
    cause = "The job was cancelled while it was being started."
    if config.state_machine_arn:
        executions.stop(
            sfn,
            executions.job_execution_arn(config.state_machine_arn, job_id),
            error="JobCancelled",
            cause=cause,
        )
    if config.uses_engine:
        executions.stop(sfn, provider_job_id, error="JobCancelled", cause=cause)
    services.slots.release(job_id)
    record = services.store.get(job_id)
    status = record.status if record else "UNKNOWN"
    logger.warning("Job ended while it was being started", extra={"status": status})
    return SubmitOutcome(job_id, status, "ended while it was being started")


def _create_or_adopt(
    record: JobRecord, services: Services, *, adopt: bool, body: UploadBody | None
) -> str:
    provider = services.provider_factory()
    found = provider.find_job(record.job_id) if adopt else None
    if found is not None:
        logger.warning(
            "Adopting the provider job of an earlier attempt", extra={"provider_job_id": found}
        )
        return found
    created = provider.create_job(record, body=body)
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
    if not is_stale(existing) and not existing.validation_error:
        # Another invocation is on it; if it dies, the scheduled dispatcher resumes the claim.
        return SubmitOutcome(job_id, existing.status, "being submitted by another invocation")
    return resume_stale(existing, services)


def resume_stale(record: JobRecord, services: Services) -> SubmitOutcome:
    """Continue a claim whose invocation died (timeout, out of memory) or failed.

    Validation never finished: validate again, as one more counted attempt; after
    ``MAX_VALIDATION_ATTEMPTS`` the file is rejected as one that cannot be validated within
    the function's limits (a poison file ends instead of killing a Lambda every 16 minutes).
    It did: queue the job, and the dispatcher starts it, using the provider job id if one was
    saved, or adopting the provider job an earlier attempt may have created.
    """
    store, job_id = services.store, record.job_id
    bind_job(job_id)
    if not record.input_format:
        if record.validation_attempts >= MAX_VALIDATION_ATTEMPTS:
            return _abandon(record, services, record.validation_error)
        attempt = store.begin_validation(record)
        if attempt is None:
            return SubmitOutcome(job_id, record.status, "being submitted by another invocation")
        logger.warning("Validating an interrupted submission again", extra={"attempt": attempt})
        fresh = store.get(job_id)
        assert fresh is not None
        return _validate_and_start(fresh, services)
    reason = "resumed after an interrupted submission"
    store.update(
        job_id, allowed_from=frozenset({jobs.RECEIVED}), status=jobs.QUEUED, queued_reason=reason
    )
    return SubmitOutcome(job_id, jobs.QUEUED, reason)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_stale(record: JobRecord) -> bool:
    return jobs.utc_now() - jobs.parse_iso(record.updated_at) > STALE_CLAIM


def _fail(job_id: str, exc: Exception, services: Services) -> SubmitOutcome:
    store = services.store
    reason = {"type": type(exc).__name__, "message": str(exc)}
    store.update(
        job_id,
        allowed_from=frozenset({jobs.RECEIVED}),
        status=jobs.FAILED,
        error=reason,
        completed_at=jobs.iso(jobs.utc_now()),
    )
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    logger.error(
        "Submission failed", extra={"error_type": reason["type"], "reason": reason["message"]}
    )
    announce(services, job_id)
    return SubmitOutcome(job_id, jobs.FAILED, reason["message"])


def _reject(job_id: str, key: str, report: Any, services: Services) -> SubmitOutcome:
    first = report.errors[0].message if report.errors else "invalid file"
    summary = (
        "The file was rejected before anything was sent to the geocoding service: "
        f"{report.error_count} file-level error(s). Fix them and upload the file again."
    )
    return _record_rejection(
        job_id,
        key,
        services,
        summary=summary,
        error={"type": "InvalidFeedError", "message": first},
        report=report.to_dict(),
        input_format=report.format,
    )


def _reject_mapping(job_id: str, key: str, exc: FeedError, services: Services) -> SubmitOutcome:
    """The sidecar ``<name>.mapping.json`` cannot be used: nothing is sent."""
    message = f"{mapping_key(key)}: {exc}"
    return _record_rejection(
        job_id,
        key,
        services,
        summary="The file's column mapping could not be read; fix it and upload both again.",
        error={"type": "InvalidFeedError", "message": message},
        report={"errors": [{"code": exc.code, "message": message}], "error_count": 1},
    )


def _abandon(record: JobRecord, services: Services, error: dict[str, str] | None) -> SubmitOutcome:
    """A file whose validation never produced a report: rejected after the last attempt."""
    attempts = record.validation_attempts
    ended = (
        f"the last one raised {error['type']}: {error['message']}"
        if error
        else "each ended without a result (the function ran out of memory or time)"
    )
    message = (
        f"The file could not be validated within the submit function's limits: {attempts} "
        f"attempt(s), {ended}. Nothing was sent to the geocoding service. Split the file or "
        "check that it is a Data Schema v2.0 file, then upload it again."
    )
    metrics.add_metric(name="JobsUnvalidated", unit=MetricUnit.Count, value=1)
    return _record_rejection(
        record.job_id,
        record.input.key,
        services,
        summary=message,
        error={"type": "ValidationAbandonedError", "message": message},
        report={"validation_attempts": attempts, "last_error": error},
    )


def _skip_missing(
    bucket: str, key: str, version_id: str | None, services: Services
) -> SubmitOutcome:
    """The object (version) was deleted before it could be read: recorded, nothing to send."""
    job_id = jobs.make_job_id(bucket, key, version_id or "")
    bind_job(job_id)
    try:
        services.store.claim(job_id, InputObject(bucket=bucket, key=key, version_id=version_id))
    except JobAlreadyExistsError as exc:
        if exc.record.status in jobs.FINAL_STATUSES:
            return SubmitOutcome(job_id, exc.record.status, "duplicate delivery")
    message = (
        "The object was deleted before it could be submitted"
        + (f" (version {version_id})" if version_id else "")
        + ": nothing was sent to the geocoding service."
    )
    logger.warning("Input gone before submission", extra={"key": key})
    return _record_rejection(
        job_id,
        key,
        services,
        summary=message,
        error={"type": "InputMissingError", "message": message},
        report=None,
    )


def _record_rejection(
    job_id: str,
    key: str,
    services: Services,
    *,
    summary: str,
    error: dict[str, str],
    report: dict[str, Any] | None,
    input_format: str | None = None,
) -> SubmitOutcome:
    config, objects = services.config, services.objects
    report_key = (
        job_folder(config.rejected_prefix, input_name(key, config.input_prefix), job_id)
        + "rejection.json"
    )
    document = {
        "job_id": job_id,
        "status": jobs.REJECTED,
        "input": objects.uri(key),
        "summary": summary,
        "report": report,
    }
    objects.put_json(report_key, document)
    # The record keeps a readable excerpt: a message may quote a huge value (DynamoDB items
    # are limited to 400 KB); rejection.json has the whole report.
    error = {**error, "message": error["message"][:1000]}
    values: dict[str, Any] = {"input_format": input_format} if input_format else {}
    services.store.update(
        job_id,
        status=jobs.REJECTED,
        rejection_report=objects.uri(report_key),
        error=error,
        completed_at=jobs.iso(jobs.utc_now()),
        **values,
    )
    metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    logger.warning(
        "File rejected", extra={"error_type": error["type"], "first_error": error["message"]}
    )
    announce(services, job_id)
    return SubmitOutcome(job_id, jobs.REJECTED, error["message"])


def _start_execution(services: Services, job_id: str, state: dict[str, Any]) -> None:
    sfn = services.sfn
    try:
        sfn.start_execution(
            stateMachineArn=services.config.state_machine_arn, name=job_id, input=json.dumps(state)
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("Execution already started")
