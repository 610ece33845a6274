"""Dispatch: start queued jobs while provider slots are free, oldest first.

Runs after every job that ends (a slot frees) and on a schedule (slots of the 24-hour window
free with time, and a claim whose submit invocation died is picked up here).
"""

from __future__ import annotations

from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.observability import bind_job, logger
from geocode_dataflow.pipeline.submit import (
    Services,
    SubmitOutcome,
    is_stale,
    resume_stale,
    start_job,
)

# A slot holder in one of these states no longer needs its slot (its release was lost).
_SLOTLESS = frozenset({jobs.QUEUED, jobs.REJECTED, jobs.COMPLETED, jobs.FAILED})


def reconcile_slots(services: Services) -> list[str]:
    """Free the slots of jobs that ended (or went back to the queue) without releasing them.

    A release can be lost (throttling, a crash between two writes), and a handful of lost
    releases would otherwise stop the pipeline for good.
    """
    freed = []
    for job_id in services.slots.holders():
        record = services.store.get(job_id)
        if record is None or record.status in _SLOTLESS:
            services.slots.release(job_id)
            freed.append(job_id)
    if freed:
        logger.warning("Freed the provider slots of jobs that had ended", extra={"jobs": freed})
    return freed


def dispatch_queued(
    services: Services, *, limit: int = 25, resume: bool = True
) -> list[SubmitOutcome]:
    """Start queued jobs; with ``resume`` (the schedule), also continue abandoned claims."""
    reconcile_slots(services)
    started = _start_queued(services, limit)
    if not resume:
        return started
    # Last: validating a stale claim again may kill this invocation as it killed the first
    # (a poison file), and the queued jobs above must not wait for it. Its attempts are
    # counted, so it ends REJECTED after a few.
    for stale in (r for r in services.store.with_status(jobs.RECEIVED, limit) if is_stale(r)):
        try:
            resume_stale(stale, services)
        except Exception:  # noqa: BLE001 - recorded on the claim, counted, retried later
            logger.exception(
                "Resuming an interrupted submission failed", extra={"job": stale.job_id}
            )
    return started


def _start_queued(services: Services, limit: int) -> list[SubmitOutcome]:
    store = services.store

    started: list[SubmitOutcome] = []
    for record in store.with_status(jobs.QUEUED, limit):
        # Claim first, then take a slot: a job that another dispatcher started is skipped
        # without holding a slot for it.
        if not store.update(
            record.job_id, allowed_from=frozenset({jobs.QUEUED}), status=jobs.RECEIVED
        ):
            continue
        decision = services.slots.try_acquire(record.job_id)
        if not decision.acquired:
            store.update(
                record.job_id,
                allowed_from=frozenset({jobs.RECEIVED}),
                status=jobs.QUEUED,
                queued_reason=decision.reason,
            )
            break
        fresh = store.get(record.job_id)
        assert fresh is not None
        outcome = start_job(fresh, services, adopt=True)
        logger.info(
            "Queued job dispatched", extra={"job": outcome.job_id, "status": outcome.status}
        )
        started.append(outcome)
        if outcome.status == jobs.QUEUED:
            break  # the provider is not taking jobs right now
    return started


def release_and_dispatch(services: Services, job_id: str) -> None:
    """A job ended: free its slot and start what waits.

    A failure here must not fail the job that ended (it is done): it is logged, and the
    scheduled dispatcher catches up (reconcile_slots frees a slot whose release was lost).
    """
    keys = logger.get_current_keys()
    try:
        services.slots.release(job_id)
        # Only the schedule resumes abandoned claims: a poison file must not take down the
        # invocation that just finished someone's job.
        dispatch_queued(services, resume=False)
    except Exception:  # noqa: BLE001 - logged and retried by the schedule, see docstring
        logger.exception("Dispatching queued jobs failed; the scheduled dispatcher will retry")
    finally:
        # Log lines of the jobs started here carried their own ids; the rest is this job's.
        bind_job(job_id, keys.get("execution_id"))
