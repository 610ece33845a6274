"""The one Logger, Tracer and Metrics of the pipeline (Powertools), created once per process."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="geocode-dataflow")
tracer = Tracer(service="geocode-dataflow")
metrics = Metrics(namespace="GeocodeDataflow", service="geocode-dataflow")

__all__ = ["logger", "tracer", "metrics", "MetricUnit", "bind_job"]


def bind_job(job_id: str | None, execution_id: str | None = None) -> None:
    """Put the job id (and the execution id when there is one) on every following log line."""
    keys = {"job_id": job_id}
    if execution_id:
        keys["execution_id"] = execution_id
    logger.append_keys(**keys)
