"""What a handler needs, built once per execution environment and only when first used.

boto3 clients are created lazily (never at import time), so tests and the local run can point
them at moto before the first call. Handlers accept a ``Runtime`` argument to swap any part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3

from geocode_dataflow.client import DataflowClient
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import JobStore
from geocode_dataflow.pipeline.provider import make_client
from geocode_dataflow.pipeline.slots import ProviderSlots
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.pipeline.submit import Services


@dataclass
class Runtime:
    config: PipelineConfig = field(default_factory=PipelineConfig.from_env)

    @cached_property
    def _table(self) -> Any:
        return boto3.resource("dynamodb").Table(self.config.jobs_table_name)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(self._table, retention_days=self.config.record_retention_days)

    @cached_property
    def slots(self) -> ProviderSlots:
        return ProviderSlots(
            self._table,
            max_in_flight=self.config.max_jobs_in_flight,
            max_per_day=self.config.max_jobs_per_day,
        )

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(boto3.client("s3"), self.config.bucket_name)

    @cached_property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions")

    def client(self) -> DataflowClient:
        # Built per invocation: the key comes from a cache that expires, so a rotated key is used.
        return make_client(self.config.key_secret_arn, self.config.dataflow_endpoint)

    def services(self) -> Services:
        return Services(
            config=self.config,
            objects=self.objects,
            store=self.store,
            slots=self.slots,
            sfn=self.sfn,
            client_factory=self.client,
        )


_default: Runtime | None = None


def default_runtime() -> Runtime:
    global _default
    if _default is None:
        _default = Runtime()
    return _default


def reset_default_runtime() -> None:
    """Forget the cached runtime (tests and the local run change the environment)."""
    global _default
    _default = None
