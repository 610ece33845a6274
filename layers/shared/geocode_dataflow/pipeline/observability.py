"""The one Logger, Tracer and Metrics of the pipeline (Powertools), created once per process."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="geocode-dataflow")
# Only botocore is traced: patching requests would record the Dataflow URLs, key included,
# in X-Ray whenever a call fails (the client scrubs its own errors, X-Ray would not).
TRACED_MODULES = ("botocore",)
tracer = Tracer(service="geocode-dataflow", patch_modules=TRACED_MODULES)
metrics = Metrics(namespace="GeocodeDataflow", service="geocode-dataflow")

__all__ = ["logger", "tracer", "metrics", "MetricUnit", "bind_job"]


def bind_job(job_id: str | None, execution_id: str | None = None) -> None:
    """Put the job id (and the execution id when there is one) on every following log line."""
    logger.append_keys(job_id=job_id)
    if execution_id:
        logger.append_keys(execution_id=execution_id)
    else:
        logger.remove_keys(["execution_id"])
