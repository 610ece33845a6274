"""Lambda (engine state machine, one per chunk): geocode a chunk of a job on a synchronous
provider, or, after the chunk could not be finished, put its entities left in the failed set."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.chunks import fail_chunk, geocode_chunk
from geocode_dataflow.pipeline.observability import bind_job, logger, metrics, tracer
from geocode_dataflow.pipeline.runtime import Runtime, default_runtime


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: Runtime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_runtime()
    chunk = event["chunk"]
    bind_job(chunk["job_id"], event.get("execution_id"))
    ctx = runtime.chunk_context(context.get_remaining_time_in_millis)
    if event.get("fail"):
        return fail_chunk({**chunk, "error": event.get("error")}, ctx)
    return geocode_chunk(chunk, ctx)
