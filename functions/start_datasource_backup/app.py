"""Lambda (backup state machine task): record the backup, create the provider's download job."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.backup import start_download
from geocode_dataflow.pipeline.backup_runtime import BackupRuntime, default_backup_runtime
from geocode_dataflow.pipeline.observability import bind_job, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: BackupRuntime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_backup_runtime()
    state = event["state"]
    bind_job(state["job_id"], event.get("execution_id"))
    return start_download(state, store=runtime.store, client=runtime.client, config=runtime.config)
