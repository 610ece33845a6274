"""Lambda: S3 ObjectCreated under the input prefix -> submit each dropped file as a geocode job."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.observability import logger, metrics, tracer
from geocode_dataflow.pipeline.runtime import Runtime, default_runtime
from geocode_dataflow.pipeline.submit import submit_object


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: Runtime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_runtime()
    outcomes = []
    for record in S3Event(event).records:
        key = unquote_plus(
            record.s3.get_object.key
        )  # S3 events carry keys URL-encoded (space -> +)
        if not key.startswith(runtime.config.input_prefix) or key.endswith("/"):
            logger.info("Ignoring object outside the input prefix", extra={"key": key})
            continue
        version_id = record.s3.get_object.version_id
        outcome = submit_object(record.s3.bucket.name, key, version_id, runtime.services())
        outcomes.append(
            {"job_id": outcome.job_id, "status": outcome.status, "detail": outcome.detail}
        )
    return {"jobs": outcomes}
