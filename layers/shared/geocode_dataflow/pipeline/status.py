"""Check status: one turn of the poll loop.

The provider's status is normalised to PENDING / COMPLETED / ABORTED (anything else raises
UnknownJobStatusError), the record gets the progress counts, and the state machine gets the
next wait: a share of the job's age from the minimum to the cap, shortened when the progress
counts say the job is nearly done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geocode_dataflow.client import DataflowJob
from geocode_dataflow.errors import PermanentError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import JobStore
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.providers import JobProvider

PENDING = "PENDING"
COMPLETED = "COMPLETED"
ABORTED = "ABORTED"
_PROVIDER_STATUSES = {"pending": PENDING, "completed": COMPLETED, "aborted": ABORTED}


class UnknownJobStatusError(PermanentError):
    """The provider reported a status outside Pending / Completed / Aborted."""


def normalise_status(provider_status: str | None) -> str:
    try:
        return _PROVIDER_STATUSES[(provider_status or "").strip().lower()]
    except KeyError:
        raise UnknownJobStatusError(f"unknown provider job status {provider_status!r}") from None


@dataclass(frozen=True)
class Progress:
    processed: int
    total: int
    at: float  # epoch seconds


# The wait is this share of the job's age: a job that ends just after a check is noticed
# within 10% of its own duration (a little under, for the check's own time). A 12-hour job
# then needs about 160 checks at the default cap, where a fixed 30-second loop needs 1,440.
AGE_FRACTION = 0.095


def next_wait(
    attempt: int,
    config: PipelineConfig,
    previous: Progress | None,
    current: Progress | None,
    *,
    elapsed: float | None = None,
) -> int:
    """Seconds to wait before the next check.

    ``elapsed`` (seconds since the job was submitted): ``AGE_FRACTION`` of it, from the
    minimum to the cap, so that a finished job is noticed within max(minimum, ~10% of its
    age) whether or not the provider reports progress. Without it (an execution started
    before the job's age was recorded): exponential from the minimum, x1.5 per check. When
    two checks show progress, the remaining time at the observed rate bounds the wait too.
    """
    if elapsed is not None:
        wait = AGE_FRACTION * max(0.0, elapsed)
    else:
        wait = config.min_wait_seconds * (1.5**attempt)
    wait = min(config.max_wait_seconds, max(config.min_wait_seconds, wait))
    if (
        previous
        and current
        and current.total
        and current.processed > previous.processed
        and current.at > previous.at
    ):
        rate = (current.processed - previous.processed) / (current.at - previous.at)
        remaining = (current.total - current.processed) / rate
        wait = min(wait, max(config.min_wait_seconds, remaining))
    return max(0, int(wait))


def check_status(
    state: dict[str, Any], *, provider: JobProvider, store: JobStore, config: PipelineConfig
) -> dict[str, Any]:
    job_id = state["job_id"]
    provider_job = provider.get_job(state["provider_job_id"])
    status = normalise_status(provider_job.status)
    now = jobs.utc_now()
    current = _progress(provider_job, now.timestamp())
    previous = Progress(**state["progress"]) if state.get("progress") else None
    # The poll budget counts the checks that saw no progress: a job that advances is not
    # stuck, however long it takes (the execution's 72-hour timeout still bounds it), while
    # one that stalls runs out of budget as before.
    advanced = bool(current and previous and current.processed > previous.processed)
    attempt = int(state.get("attempt", 0)) + (0 if advanced else 1)
    checks = int(state.get("checks", state.get("attempt", 0))) + 1
    values: dict[str, Any] = {"status_checks": checks, "last_checked_at": jobs.iso(now)}
    if provider_job.processed_entity_count is not None:
        values["processed_entities"] = provider_job.processed_entity_count
    if provider_job.failed_entity_count is not None:
        values["failed_entities"] = provider_job.failed_entity_count
    store.update(job_id, allowed_from=frozenset({jobs.PENDING}), **values)
    logger.info(
        "Provider job status",
        extra={
            "provider_status": provider_job.status,
            "processed": provider_job.processed_entity_count,
            "total": provider_job.total_entity_count,
            "attempt": attempt,
            "checks": checks,
        },
    )

    result = {key: value for key, value in state.items() if key not in ("error", "provider_error")}
    result.update(
        status=status,
        attempt=attempt,
        checks=checks,
        wait_seconds=next_wait(attempt, config, previous, current, elapsed=_age(state, now)),
    )
    if current is not None:
        result["progress"] = {
            "processed": current.processed,
            "total": current.total,
            "at": current.at,
        }
    if status == ABORTED:
        result["error"] = {
            "Error": "JobAbortedError",
            "Cause": provider_job.error_message
            or "The provider aborted the job without a message.",
        }
    return result


def _age(state: dict[str, Any], now: Any) -> float | None:
    submitted = state.get("submitted_at")
    return now.timestamp() - float(submitted) if submitted is not None else None


def _progress(job: DataflowJob, at: float) -> Progress | None:
    if job.total_entity_count and job.processed_entity_count is not None:
        return Progress(processed=job.processed_entity_count, total=job.total_entity_count, at=at)
    return None
