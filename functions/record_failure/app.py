"""Lambda: record a job as FAILED with its reason.

Two callers: the state machine (``{"state": {..., "error": {Error, Cause}}, "execution_id"}``)
and EventBridge's "Step Functions Execution Status Change" for executions that ended FAILED,
TIMED_OUT or ABORTED (the execution name is the job id).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.failure import record_failure
from geocode_dataflow.pipeline.observability import bind_job, logger, metrics, tracer
from geocode_dataflow.pipeline.runtime import Runtime, default_runtime


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: Runtime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_runtime()
    if event.get("detail-type") == "Step Functions Execution Status Change":
        detail = EventBridgeEvent(event).detail
        job_id = detail["name"]
        error = {
            "Error": f"Execution{str(detail.get('status', 'FAILED')).title().replace('_', '')}",
            "Cause": detail.get("cause")
            or f"The state machine execution ended {detail.get('status')}.",
        }
        if detail.get("error"):
            error["Error"] = detail["error"]
        execution_id = detail.get("executionArn")
    else:
        state = event["state"]
        job_id, error, execution_id = state["job_id"], state.get("error"), event.get("execution_id")
    bind_job(job_id, execution_id)
    return record_failure(job_id, error, runtime.services())
