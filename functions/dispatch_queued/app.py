"""Lambda (every minute, EventBridge schedule): start queued jobs while provider slots are free."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.dispatch import dispatch_queued
from geocode_dataflow.pipeline.observability import logger, metrics, tracer
from geocode_dataflow.pipeline.runtime import Runtime, default_runtime


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: Runtime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_runtime()
    started = dispatch_queued(runtime.services())
    return {
        "started": [{"job_id": o.job_id, "status": o.status, "detail": o.detail} for o in started]
    }
