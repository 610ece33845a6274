"""Stopping a job's state machine executions (a failed or cancelled job runs no further)."""

from __future__ import annotations

from typing import Any

from geocode_dataflow.pipeline.observability import logger


def job_execution_arn(state_machine_arn: str, job_id: str) -> str:
    """The poll loop's execution of a job: it is named after the job."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{job_id}"


def stop(sfn: Any, execution_arn: str, *, error: str, cause: str) -> bool:
    """Stop an execution; True when it was running. One that ended or never started is fine."""
    try:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description.get("status") != "RUNNING":
            return False
        sfn.stop_execution(executionArn=execution_arn, error=error, cause=cause)
        return True
    except sfn.exceptions.ExecutionDoesNotExist:
        return False
    except Exception:  # noqa: BLE001 - the record is final either way; chunks and checks skip it
        logger.warning(
            "Could not stop an execution", extra={"execution": execution_arn}, exc_info=True
        )
        return False
