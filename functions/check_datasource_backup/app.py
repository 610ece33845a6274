"""Lambda (backup state machine task): check a download job's status once, return the next wait."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.backup import DataSourceDownloads
from geocode_dataflow.pipeline.backup_runtime import BackupRuntime, default_backup_runtime
from geocode_dataflow.pipeline.observability import bind_job, logger, metrics, tracer
from geocode_dataflow.pipeline.status import check_status


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: BackupRuntime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_backup_runtime()
    state = event["state"]
    bind_job(state["job_id"], event.get("execution_id"))
    return check_status(
        state,
        provider=DataSourceDownloads(runtime.client()),  # type: ignore[arg-type]
        store=runtime.store,
        config=runtime.config.pipeline,
    )
