"""Lambda (EventBridge schedule): start a backup of every data source the stack lists."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.backup import schedule_backups
from geocode_dataflow.pipeline.backup_runtime import BackupRuntime, default_backup_runtime
from geocode_dataflow.pipeline.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: BackupRuntime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_backup_runtime()
    # The event's id seeds the job ids: a delivery retried by EventBridge starts nothing twice.
    started = schedule_backups(
        runtime.config, runtime.sfn, str(event.get("id") or context.aws_request_id)
    )
    return {"started": started}
