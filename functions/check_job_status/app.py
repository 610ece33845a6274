"""Lambda (state machine task): check a provider job's status once and return the next wait."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.observability import bind_job, logger, metrics, tracer
from geocode_dataflow.pipeline.runtime import Runtime, default_runtime
from geocode_dataflow.pipeline.status import check_status


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: Runtime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_runtime()
    state = event["state"]
    bind_job(state["job_id"], event.get("execution_id"))
    return check_status(
        state, provider=runtime.provider(), store=runtime.store, config=runtime.config
    )
