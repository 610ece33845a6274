"""Cancel: a job that has not ended stops where it is and ends CANCELLED.

- QUEUED or RECEIVED: it never starts (an invocation starting it right now sees the record
  and undoes what it started, see ``submit.start_job``).
- PENDING: the poll loop's execution is stopped; an engine job's execution too (no more
  requests to the provider), and a data source backup's (the backup state machine's); a Bing
  Dataflow job cannot be cancelled at the service, so it is abandoned there (its results are
  never downloaded). A download already under way removes
  what it wrote when it finds the job cancelled.
In every case the record turns CANCELLED first (the guard that makes every other writer stop),
the slot is freed, job.json says CANCELLED, and the end is announced. Cancelling a job that
has ended changes nothing.
"""

from __future__ import annotations

from geocode_dataflow.pipeline import executions, jobs, parts
from geocode_dataflow.pipeline.dispatch import release_and_dispatch
from geocode_dataflow.pipeline.download import results_folder
from geocode_dataflow.pipeline.notify import announce
from geocode_dataflow.pipeline.observability import MetricUnit, bind_job, logger, metrics
from geocode_dataflow.pipeline.submit import Services, SubmitOutcome

_CANCELLABLE = frozenset({jobs.RECEIVED, jobs.QUEUED, jobs.PENDING})


class JobNotFoundError(LookupError):
    """No job record with this id."""


def cancel_job(
    job_id: str, services: Services, *, reason: str = "cancelled by request", dispatch: bool = True
) -> SubmitOutcome:
    """Cancel ``job_id``. Without ``dispatch`` (a person's credentials, not the pipeline's) the
    freed slot is left for the scheduled dispatcher to fill, within a minute."""
    store, config = services.store, services.config
    bind_job(job_id)
    record = store.get(job_id)
    if record is None:
        raise JobNotFoundError(f"no job {job_id!r}")
    if record.status in jobs.FINAL_STATUSES:
        return SubmitOutcome(job_id, record.status, f"already {record.status}; nothing to cancel")
    was = record.status
    if not store.update(
        job_id,
        allowed_from=_CANCELLABLE,
        status=jobs.CANCELLED,
        error={"type": "JobCancelledError", "message": reason[:1000]},
        queued_reason=None,
        completed_at=jobs.iso(jobs.utc_now()),
    ):
        current = store.get(job_id)
        status = current.status if current else "UNKNOWN"
        return SubmitOutcome(job_id, status, f"ended as {status} before it could be cancelled")

    for child in record.parts or []:  # after the parent: its parts then do not complete it
        cancel_job(child, services, reason=reason, dispatch=False)
    cause = f"The job was cancelled: {reason}"[:1000]
    stopped = []
    if config.state_machine_arn and executions.stop(
        services.sfn,
        executions.job_execution_arn(config.state_machine_arn, job_id),
        error="JobCancelled",
        cause=cause,
    ):
        stopped.append("execution")
    if record.kind == jobs.DATASOURCE_BACKUP and config.backup_state_machine_arn:
        # A backup's poll loop is the backup state machine's: stopped, it never stores one.
        if executions.stop(
            services.sfn,
            executions.job_execution_arn(config.backup_state_machine_arn, job_id),
            error="JobCancelled",
            cause=cause,
        ):
            stopped.append("backup execution")
    elif config.uses_engine and record.provider_job_id:
        if executions.stop(services.sfn, record.provider_job_id, error="JobCancelled", cause=cause):
            stopped.append("engine")
    cancelled = store.get(job_id)
    assert cancelled is not None
    key = f"{results_folder(cancelled, config)}job.json"
    store.update(job_id, outputs={**cancelled.outputs, "job": services.objects.uri(key)})
    cancelled.outputs["job"] = services.objects.uri(key)
    services.objects.put_json(key, cancelled.to_document())
    metrics.add_metric(name="JobsCancelled", unit=MetricUnit.Count, value=1)
    logger.warning("Job cancelled", extra={"was": was, "stopped": stopped, "reason": reason})
    if dispatch:
        release_and_dispatch(services, job_id)
    else:
        services.slots.release(job_id)
    if cancelled.parent_job_id:
        parts.part_ended(cancelled, services)  # the rest of the job goes on
    else:
        announce(services, job_id)
    detail = f"cancelled while {was}"
    if was == jobs.PENDING and not config.uses_engine:
        detail += "; the Bing Dataflow job is abandoned at the service (it has no cancel)"
    return SubmitOutcome(job_id, jobs.CANCELLED, detail)
