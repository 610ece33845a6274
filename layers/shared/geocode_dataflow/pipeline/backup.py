"""Data source backups: a Data Source Download job run through the job lifecycle.

1. Start (``start_backup``, from the CLI or ``schedule_backups``): an execution of the backup
   state machine named after a new job id, with the data source to download. Nothing secret
   is in its input.
2. Start Download (``start_download``): the job record (kind ``datasource-backup``, PENDING),
   then the download job created at the provider with the data source's master key, read from
   its own secret like the Bing key.
3. The poll loop is the geocode jobs' (``status.check_status``), asking the download job's
   status URL (``DataSourceDownloads``).
4. Store Backup / Record Backup Failure: ``backup_store``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.errors import ProtocolError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import BING_DATAFLOW, ConfigurationError, PipelineConfig
from geocode_dataflow.pipeline.jobs import InputObject, JobRecord, JobStore
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics
from geocode_dataflow.pipeline.storage import job_folder
from geocode_dataflow.pipeline.submit import state_for_execution

DEFAULT_PREFIX = "datasources/"
DEFAULT_KEEP = 10


@dataclass(frozen=True)
class DataSourceRef:
    """Which data source to download: its access id and name, and optionally a version (the
    download job's ``jobId``: a previous or the staged version; the published one otherwise)."""

    access_id: str
    name: str
    version: str | None = None

    def __post_init__(self) -> None:
        if not self.access_id.strip() or not self.name.strip():
            raise ValueError("a data source needs an access id and a name")

    @classmethod
    def parse(cls, text: str) -> DataSourceRef:
        """``ACCESS_ID/NAME`` or ``ACCESS_ID/NAME@VERSION`` (the schedule's list)."""
        target, _, version = text.strip().partition("@")
        access_id, _, name = target.partition("/")
        return cls(access_id.strip(), name.strip(), version.strip() or None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSourceRef:
        return cls(str(data["access_id"]), str(data["name"]), data.get("version") or None)

    def to_dict(self) -> dict[str, str]:
        values = {"access_id": self.access_id, "name": self.name}
        if self.version:
            values["version"] = self.version
        return values


def parse_sources(text: str) -> tuple[DataSourceRef, ...]:
    """The ``BackupDataSources`` parameter: entries separated by commas or white space."""
    return tuple(DataSourceRef.parse(entry) for entry in re.split(r"[,\s]+", text) if entry)


@dataclass(frozen=True)
class BackupConfig:
    pipeline: PipelineConfig  # the table, the bucket and the poll loop's waits
    dataflow_endpoint: str
    master_key_secret_arn: str | None
    prefix: str = DEFAULT_PREFIX
    keep: int = DEFAULT_KEEP
    sources: tuple[DataSourceRef, ...] = ()  # what the schedule backs up

    @property
    def state_machine_arn(self) -> str | None:
        """The backup state machine (``DATASOURCE_BACKUP_STATE_MACHINE_ARN``)."""
        return self.pipeline.backup_state_machine_arn

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackupConfig:
        env = os.environ if env is None else env
        try:
            keep = int(env.get("DATASOURCE_BACKUPS_KEPT", "").strip() or DEFAULT_KEEP)
            sources = parse_sources(env.get("DATASOURCE_BACKUP_SOURCES", ""))
        except ValueError as exc:
            raise ConfigurationError(f"data source backups: {exc}") from exc
        if keep < 1:
            raise ConfigurationError("DATASOURCE_BACKUPS_KEPT must be at least 1")
        endpoint = env.get("DATAFLOW_ENDPOINT", "").strip()
        if not endpoint:
            raise ConfigurationError("environment variable DATAFLOW_ENDPOINT is required")
        pipeline = PipelineConfig.from_env(env)
        return cls(
            pipeline=pipeline,
            dataflow_endpoint=endpoint,
            master_key_secret_arn=env.get("DATASOURCE_MASTER_KEY_SECRET_ARN", "").strip() or None,
            prefix=env.get("DATASOURCE_BACKUP_PREFIX", "").strip() or DEFAULT_PREFIX,
            keep=keep,
            sources=sources,
        )


def backup_job_id(name: str, seed: str) -> str:
    """``<data source name>-<20 hex digits>``, a valid execution name. The same seed gives
    the same id, so a retried schedule starts nothing twice."""
    digest = hashlib.sha256(f"datasource-backup#{name}#{seed}".encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "datasource"
    return f"{slug}-{digest}"


def backup_folder(prefix: str, name: str, job_id: str) -> str:
    return job_folder(prefix, name, job_id)


def start_backup(
    sfn: Any, state_machine_arn: str, source: DataSourceRef, seed: str | None = None
) -> str:
    """Start one backup's execution (idempotent for a given ``seed``); returns its job id."""
    job_id = backup_job_id(source.name, seed or secrets.token_hex(16))
    state = {"job_id": job_id, "data_source": source.to_dict()}
    try:
        sfn.start_execution(stateMachineArn=state_machine_arn, name=job_id, input=json.dumps(state))
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("Backup execution already started", extra={"job": job_id})
    return job_id


def schedule_backups(config: BackupConfig, sfn: Any, event_id: str) -> list[str]:
    """The schedule: one backup of every listed data source, seeded by the event's id (an
    event delivered twice starts each backup once)."""
    if not config.state_machine_arn:
        raise ConfigurationError("DATASOURCE_BACKUP_STATE_MACHINE_ARN is required")
    started = [
        start_backup(sfn, config.state_machine_arn, source, f"{event_id}/{source.access_id}")
        for source in config.sources
    ]
    logger.info("Scheduled data source backups started", extra={"jobs": started})
    return started


def start_download(
    state: dict[str, Any],
    *,
    store: JobStore,
    client: Callable[[], DataflowClient],
    config: BackupConfig,
) -> dict[str, Any]:
    """The record first (so every later failure has one to land on), then the download job.

    A retry finds the record and creates the download job again: a duplicate one costs
    nothing at the provider and counts against no quota.
    """
    job_id = state["job_id"]
    source = DataSourceRef.from_dict(state["data_source"])
    now = jobs.iso(jobs.utc_now())
    folder = backup_folder(config.prefix, source.name, job_id)
    record = JobRecord(
        job_id=job_id,
        status=jobs.PENDING,
        input=InputObject(bucket=config.pipeline.bucket_name, key=folder),
        created_at=now,
        updated_at=now,
        provider=BING_DATAFLOW,
        kind=jobs.DATASOURCE_BACKUP,
        data_source=source.to_dict(),
    )
    if not store.create(record):
        existing = store.get(job_id)
        if existing is not None and existing.status in jobs.FINAL_STATUSES:
            raise ValueError(f"backup {job_id} has ended ({existing.status}); start another")
    download = client().create_datasource_download(
        source.access_id, source.name, job_id=source.version
    )
    if not download.self_url:
        raise ProtocolError(f"the provider gave download job {download.id} no status URL")
    store.update(
        job_id,
        allowed_from=frozenset({jobs.PENDING}),
        provider_job_id=download.id,
        submitted_at=now,
    )
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    logger.info("Data source download job created", extra={"provider_job_id": download.id})
    return {
        **state_for_execution(job_id, download.self_url, config.pipeline),
        "data_source": source.to_dict(),
    }


class DataSourceDownloads:
    """The poll loop's provider for backups: a download job's status, by its status URL."""

    def __init__(self, client: DataflowClient) -> None:
        self._client = client

    def get_job(self, provider_job_id: str) -> DataflowJob:
        return self._client.get_datasource_download(provider_job_id)
