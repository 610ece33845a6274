"""What the backup functions need, built once per execution environment and only when used
(boto3 clients lazily, as ``runtime.Runtime``; the master key per invocation, cached a few
minutes, so a rotated key is picked up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3

from geocode_dataflow.client import DataflowClient
from geocode_dataflow.pipeline.backup import BackupConfig
from geocode_dataflow.pipeline.backup_store import BackupServices
from geocode_dataflow.pipeline.config import ConfigurationError
from geocode_dataflow.pipeline.jobs import JobStore
from geocode_dataflow.pipeline.notify import Notifier, notifier_for
from geocode_dataflow.pipeline.provider import read_key
from geocode_dataflow.pipeline.storage import ObjectStore


@dataclass
class BackupRuntime:
    config: BackupConfig = field(default_factory=BackupConfig.from_env)

    @cached_property
    def store(self) -> JobStore:
        table = boto3.resource("dynamodb").Table(self.config.pipeline.jobs_table_name)
        return JobStore(table, retention_days=self.config.pipeline.record_retention_days)

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(boto3.client("s3"), self.config.pipeline.bucket_name)

    @cached_property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions")

    def client(self) -> DataflowClient:
        """The Dataflow client with the data source master key (never the Bing key)."""
        if not self.config.master_key_secret_arn:
            raise ConfigurationError(
                "no data source master key: deploy with DataSourceMasterKeySecretArn, the "
                "secret that holds it"
            )
        key = read_key(self.config.master_key_secret_arn, "data source master key")
        return DataflowClient(key, self.config.dataflow_endpoint)

    @cached_property
    def notifier(self) -> Notifier:
        return notifier_for(self.config.pipeline)

    def services(self) -> BackupServices:
        return BackupServices(
            config=self.config,
            store=self.store,
            objects=self.objects,
            client=self.client,
            notifier=self.notifier,
        )


_default: BackupRuntime | None = None


def default_backup_runtime() -> BackupRuntime:
    global _default
    if _default is None:
        _default = BackupRuntime()
    return _default
