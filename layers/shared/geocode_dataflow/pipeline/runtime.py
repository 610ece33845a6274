"""What a handler needs, built once per execution environment and only when first used.

boto3 clients are created lazily (never at import time), so tests and the local run can point
them at moto before the first call. Handlers accept a ``Runtime`` argument to swap any part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3

from geocode_dataflow.client import DataflowClient
from geocode_dataflow.pipeline.chunks import ChunkContext
from geocode_dataflow.pipeline.config import AMAZON_LOCATION, AZURE_MAPS, PipelineConfig
from geocode_dataflow.pipeline.jobs import JobStore
from geocode_dataflow.pipeline.notify import Notifier, notifier_for
from geocode_dataflow.pipeline.pacing import RateLimiter
from geocode_dataflow.pipeline.provider import make_client, read_key
from geocode_dataflow.pipeline.slots import ProviderSlots
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.pipeline.submit import Services
from geocode_dataflow.providers import EntityGeocoder, JobProvider

# A synchronous provider has no daily job quota: only the jobs-in-flight bound applies.
NO_DAILY_LIMIT = 10**9


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
            max_per_day=NO_DAILY_LIMIT if self.config.uses_engine else self.config.max_jobs_per_day,
        )

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(boto3.client("s3"), self.config.bucket_name)

    @cached_property
    def notifier(self) -> Notifier:
        return notifier_for(self.config)

    @cached_property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions")

    def client(self) -> DataflowClient:
        # Built per invocation: the key comes from a cache that expires, so a rotated key is used.
        if not (self.config.key_secret_arn and self.config.dataflow_endpoint):
            raise ValueError(
                "the Bing Dataflow client needs BING_MAPS_KEY_SECRET_ARN and DATAFLOW_ENDPOINT"
            )
        return make_client(self.config.key_secret_arn, self.config.dataflow_endpoint)

    def provider(self) -> JobProvider:
        """Who runs this pipeline's jobs: the Bing service, or the engine for the others."""
        if self.config.uses_engine:
            from geocode_dataflow.pipeline.engine import EngineJobs

            return EngineJobs(self.config, self.objects, self.sfn, self._table)
        from geocode_dataflow.providers.bing_dataflow import BingDataflowJobs

        return BingDataflowJobs(self.client(), self.objects)

    @cached_property
    def _places(self) -> EntityGeocoder:
        from geocode_dataflow.providers.amazon_location import AmazonLocationGeocoder

        return AmazonLocationGeocoder.from_config(self.config)

    @cached_property
    def _http(self) -> Any:
        import requests

        return requests.Session()

    def geocoder(self) -> EntityGeocoder:
        """The synchronous provider the engine's chunks call: one client per environment; a
        key read per invocation (cached a few minutes), so a rotated key is picked up."""
        if self.config.provider == AMAZON_LOCATION:
            return self._places
        if self.config.provider == AZURE_MAPS:
            from geocode_dataflow.providers.azure_maps import AzureMapsGeocoder

            key = read_key(str(self.config.azure_key_secret_arn), "Azure Maps key")
            return AzureMapsGeocoder(
                key,
                endpoint=self.config.azure_endpoint,
                api_version=self.config.azure_api_version,
                session=self._http,
            )
        raise ValueError(f"provider {self.config.provider} has no entity geocoder")

    @cached_property
    def limiter(self) -> RateLimiter:
        """One per execution environment: its threads share the claimed request slots."""
        return RateLimiter(self._table, self.config.provider, self.config.requests_per_second)

    def chunk_context(self, remaining_ms: Callable[[], int]) -> ChunkContext:
        return ChunkContext(
            objects=self.objects,
            store=self.store,
            table=self._table,
            geocoder=self.geocoder(),
            limiter=self.limiter,
            work_prefix=self.config.work_prefix,
            request_concurrency=self.config.request_concurrency,
            remaining_ms=remaining_ms,
        )

    def services(self) -> Services:
        return Services(
            config=self.config,
            objects=self.objects,
            store=self.store,
            slots=self.slots,
            sfn=self.sfn,
            provider_factory=self.provider,
            notifier=self.notifier,
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
