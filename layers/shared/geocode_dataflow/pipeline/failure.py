"""Record failure: put a job that cannot complete into FAILED, with the reason, exactly once.

Called by the state machine's Catch / Aborted / poll-budget paths with the state and an
``error`` {Error, Cause}, and by EventBridge when an execution ends FAILED, TIMED_OUT or
ABORTED (the backstop for failures the state machine could not catch itself). The transition
is guarded: a record already COMPLETED, REJECTED or FAILED is left alone.
"""

from __future__ import annotations

import json
from typing import Any

from geocode_dataflow.pipeline import executions, jobs, parts
from geocode_dataflow.pipeline.dispatch import release_and_dispatch
from geocode_dataflow.pipeline.download import results_folder
from geocode_dataflow.pipeline.notify import announce
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics
from geocode_dataflow.pipeline.submit import Services

_NOT_FINAL = frozenset({jobs.RECEIVED, jobs.QUEUED, jobs.PENDING})
MAX_REASON = 2000


def describe_error(error: dict[str, Any] | None) -> dict[str, str]:
    """{type, message} from a Step Functions error: a Lambda error's Cause is a JSON document
    whose errorMessage is the readable part; other causes are plain text."""
    if not error:
        return {"type": "UnknownError", "message": "The job failed without an error description."}
    kind = str(error.get("Error") or "UnknownError")
    cause = error.get("Cause") or ""
    message = str(cause)
    try:
        parsed = json.loads(cause) if isinstance(cause, str) and cause.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = str(parsed.get("errorMessage") or message)
        kind = str(parsed.get("errorType") or kind)
    return {"type": kind, "message": message[:MAX_REASON] or kind}


def record_failure(job_id: str, error: dict[str, Any] | None, services: Services) -> dict[str, Any]:
    store, objects, config = services.store, services.objects, services.config
    reason = describe_error(error)
    changed = store.update(
        job_id,
        allowed_from=_NOT_FINAL,
        status=jobs.FAILED,
        error=reason,
        completed_at=jobs.iso(jobs.utc_now()),
    )
    record = store.get(job_id)
    if not changed:
        logger.info(
            "Job already final; failure not recorded again",
            extra={"status": record.status if record else None},
        )
        release_and_dispatch(services, job_id)  # idempotent: frees a slot whose release was lost
        return {"job_id": job_id, "status": record.status if record else "UNKNOWN", "error": reason}
    if record is not None:
        key = f"{results_folder(record, config)}job.json"
        store.update(job_id, outputs={**record.outputs, "job": objects.uri(key)})
        record.outputs["job"] = objects.uri(key)
        objects.put_json(key, record.to_document())
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    logger.error("Job failed", extra={"error_type": reason["type"], "reason": reason["message"]})
    if record is not None and config.uses_engine and record.provider_job_id:
        # No more chunks, no more requests paid for (chunks also skip a job that is final).
        executions.stop(
            services.sfn,
            record.provider_job_id,
            error="JobFailed",
            cause="The job was recorded FAILED.",
        )
    release_and_dispatch(services, job_id)
    if record is not None and record.parent_job_id:
        parts.part_ended(record, services)  # its entities go to the parent's failed set
    else:
        announce(services, job_id)
    return {"job_id": job_id, "status": jobs.FAILED, "error": reason}
