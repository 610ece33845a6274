"""Dispatch: start queued jobs while provider slots are free, oldest first.

Runs after every job that ends (a slot frees) and on a schedule (slots of the 24-hour window
free with time, and a claim whose submit invocation died is picked up here).
"""

from __future__ import annotations

from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.submit import Services, SubmitOutcome, is_stale, start_job


def dispatch_queued(services: Services, *, limit: int = 25) -> list[SubmitOutcome]:
    store = services.store
    for stale in (r for r in store.with_status(jobs.RECEIVED, limit) if is_stale(r)):
        store.update(
            stale.job_id,
            allowed_from=frozenset({jobs.RECEIVED}),
            status=jobs.QUEUED,
            queued_reason="resumed after an interrupted submission",
        )

    started: list[SubmitOutcome] = []
    for record in store.with_status(jobs.QUEUED, limit):
        decision = services.slots.try_acquire(record.job_id)
        if not decision.acquired:
            if decision.reason != record.queued_reason:
                store.update(
                    record.job_id,
                    allowed_from=frozenset({jobs.QUEUED}),
                    queued_reason=decision.reason,
                )
            break
        if not store.update(
            record.job_id, allowed_from=frozenset({jobs.QUEUED}), status=jobs.RECEIVED
        ):
            continue  # another dispatcher took it (and holds the slot under this job id)
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
    """A job ended: free its slot and start what waits. A failure here must not fail the job
    that ended (it is done); the scheduled dispatcher catches up."""
    try:
        services.slots.release(job_id)
        dispatch_queued(services)
    except Exception:  # noqa: BLE001 - logged and retried by the schedule, see docstring
        logger.exception("Dispatching queued jobs failed; the scheduled dispatcher will retry")
