"""Lambda: the end of a data source backup.

Three callers: the state machine's Store Backup (``{"state": ..., "execution_id"}``), its
Record Backup Failure (the same with ``"fail": true`` and the state's ``error``), and
EventBridge's "Step Functions Execution Status Change" for backup executions that ended
FAILED, TIMED_OUT or ABORTED (the execution name is the job id; its input the first state).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from geocode_dataflow.pipeline.backup_runtime import BackupRuntime, default_backup_runtime
from geocode_dataflow.pipeline.backup_store import fail_backup, store_backup
from geocode_dataflow.pipeline.observability import bind_job, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, *, runtime: BackupRuntime | None = None
) -> dict[str, Any]:
    runtime = runtime or default_backup_runtime()
    if event.get("detail-type") == "Step Functions Execution Status Change":
        detail = EventBridgeEvent(event).detail
        state = json.loads(detail.get("input") or "{}") or {"job_id": detail["name"]}
        error = {
            "Error": detail.get("error") or f"Execution{str(detail.get('status')).title()}",
            "Cause": detail.get("cause") or f"The execution ended {detail.get('status')}.",
        }
        bind_job(detail["name"], detail.get("executionArn"))
        return fail_backup({**state, "job_id": detail["name"]}, error, runtime.services())
    state = event["state"]
    bind_job(state["job_id"], event.get("execution_id"))
    if event.get("fail"):
        return fail_backup(state, state.get("error"), runtime.services())
    return store_backup(state, runtime.services())
