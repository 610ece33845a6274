"""Store Backup and Record Backup Failure: the end of a data source backup.

A completed download is streamed to the function's temporary storage, its digest compared
with the data source's last backup, and then either

- recorded as unchanged (``unchanged_since`` names the backup it equals; its files are the
  outputs), so that a daily schedule does not pile up copies; or
- kept under ``<prefix><data source name>/<job id>/``: the provider's XML byte for byte, and
  ``entities.csv``, ``entities.geojson``, ``schema.json`` converted from it (``datasources``),
  then ``job.json``, the data source's ``backups.json`` (its backups, newest last, the oldest
  beyond ``keep`` deleted) and the record COMPLETED, in that order.

An aborted download keeps the provider's error log (its ``failed`` link) as ``error-log.txt``
beside ``job.json``; the record ends FAILED with the provider's message.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from geocode_dataflow.client import DataflowClient
from geocode_dataflow.datasources import (
    ENTITIES_CSV,
    ENTITIES_GEOJSON,
    SCHEMA_JSON,
    convert_to_folder,
)
from geocode_dataflow.errors import GeocodeDataflowError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.backup import BackupConfig, DataSourceRef, backup_folder
from geocode_dataflow.pipeline.failure import describe_error
from geocode_dataflow.pipeline.jobs import JobRecord, JobStore
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics
from geocode_dataflow.pipeline.storage import ObjectStore

XML_NAME = "datasource.xml"
ERROR_LOG_NAME = "error-log.txt"
HISTORY_NAME = "backups.json"
_FILES = (
    ("datasource_xml", XML_NAME, "application/xml"),
    ("entities_csv", ENTITIES_CSV, "text/csv"),
    ("entities_geojson", ENTITIES_GEOJSON, "application/geo+json"),
    ("schema", SCHEMA_JSON, "application/json"),
)
_NOT_FINAL = frozenset({jobs.RECEIVED, jobs.QUEUED, jobs.PENDING})


@dataclass
class BackupServices:
    config: BackupConfig
    store: JobStore
    objects: ObjectStore
    client: Callable[[], DataflowClient]  # with the master key, built per invocation


@dataclass
class History:
    """``<prefix><name>/backups.json``: the data source's kept backups, oldest first."""

    name: str
    backups: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, objects: ObjectStore, key: str, name: str) -> History:
        try:
            document = objects.get_json(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            return cls(name)
        return cls(name, list(document.get("backups", [])))

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.backups[-1] if self.backups else None

    def to_document(self) -> dict[str, Any]:
        return {"data_source": self.name, "backups": self.backups}


def store_backup(state: dict[str, Any], services: BackupServices) -> dict[str, Any]:
    config, store, objects = services.config, services.store, services.objects
    job_id = state["job_id"]
    record = store.get(job_id)
    if record is None:
        raise LookupError(f"no job record {job_id}")
    if record.status in jobs.FINAL_STATUSES:  # a retry after the record was final
        return _outcome(record)
    source = DataSourceRef.from_dict(state["data_source"])
    folder = backup_folder(config.prefix, source.name, job_id)
    history_key = f"{config.prefix}{source.name}/{HISTORY_NAME}"
    client: DataflowClient = services.client()
    download = client.get_datasource_download(state["provider_job_id"])
    with tempfile.TemporaryDirectory(prefix="backup-") as tmp:
        work = Path(tmp)
        xml = work / XML_NAME
        with open(xml, "wb") as sink:
            client.download_datasource(download, sink)
        digest = _sha256(xml)
        history = History.load(objects, history_key, source.name)
        # A retry after this backup was listed (and before its record was completed) compares
        # with the backup before it, not with itself.
        history.backups = [b for b in history.backups if b.get("job_id") != job_id]
        latest = history.latest
        if latest and latest.get("content_digest") == digest:
            return _unchanged(record, latest, digest, history, history_key, services)
        # The provider's bytes first: whatever the conversion finds, they are kept.
        objects.put_file(f"{folder}{XML_NAME}", xml, "application/xml")
        with open(xml, "rb") as data:
            conversion = convert_to_folder(data, work)
        for _, name, content_type in _FILES[1:]:
            objects.put_file(f"{folder}{name}", work / name, content_type)
    outputs = {label: objects.uri(f"{folder}{name}") for label, name, _ in _FILES}
    outputs["job"] = objects.uri(f"{folder}job.json")
    now = jobs.utc_now()
    final = {
        "status": jobs.COMPLETED,
        "content_digest": digest,
        "total_entities": conversion.entities,
        "processed_entities": conversion.entities,
        "succeeded_entities": conversion.entities,
        "failed_entities": 0,
        "completed_at": jobs.iso(now),
        "outputs": outputs,
    }
    objects.put_json(f"{folder}job.json", record.to_document() | final)
    history.backups.append(
        {
            "job_id": job_id,
            "completed_at": jobs.iso(now),
            "content_digest": digest,
            "entities": conversion.entities,
            "entity_type": conversion.schema.entity_type,
            "folder": objects.uri(folder),
        }
    )
    _prune(history, config.keep, objects)
    objects.put_json(history_key, history.to_document())
    if not store.update(job_id, allowed_from=frozenset({jobs.PENDING}), **final):
        current = store.get(job_id)
        status = current.status if current else "UNKNOWN"
        logger.warning("Backup stored, but the job had already ended", extra={"status": status})
        return {"job_id": job_id, "status": status, "outputs": outputs, "unchanged": False}
    _count_completed(record, now)
    logger.info(
        "Data source backed up",
        extra={"entities": conversion.entities, "located": conversion.located},
    )
    return {"job_id": job_id, "status": jobs.COMPLETED, "outputs": outputs, "unchanged": False}


def _unchanged(
    record: JobRecord,
    latest: dict[str, Any],
    digest: str,
    history: History,
    history_key: str,
    services: BackupServices,
) -> dict[str, Any]:
    """Nothing new since the last backup: recorded, and no second copy kept."""
    now = jobs.utc_now()
    previous = services.store.get(str(latest["job_id"]))
    outputs = dict(previous.outputs) if previous is not None else {}
    latest["confirmed_at"] = jobs.iso(now)
    services.objects.put_json(history_key, history.to_document())
    services.store.update(
        record.job_id,
        allowed_from=frozenset({jobs.PENDING}),
        status=jobs.COMPLETED,
        content_digest=digest,
        unchanged_since=str(latest["job_id"]),
        total_entities=latest.get("entities"),
        completed_at=jobs.iso(now),
        outputs=outputs,
    )
    _count_completed(record, now)
    logger.info("Data source unchanged since its last backup", extra={"same_as": latest["job_id"]})
    return {
        "job_id": record.job_id,
        "status": jobs.COMPLETED,
        "outputs": outputs,
        "unchanged": True,
    }


def _prune(history: History, keep: int, objects: ObjectStore) -> None:
    """Delete the backups beyond the newest ``keep`` (their records stay, until their TTL)."""
    while len(history.backups) > keep:
        oldest = history.backups.pop(0)
        folder = objects.key_of(str(oldest["folder"]))
        objects.delete(list(objects.list_keys(folder)))
        logger.info("Old backup deleted", extra={"backup": oldest["job_id"]})


def fail_backup(
    state: dict[str, Any], error: dict[str, Any] | None, services: BackupServices
) -> dict[str, Any]:
    """FAILED with the reason, exactly once; an aborted download's error log kept."""
    store, objects, config = services.store, services.objects, services.config
    job_id = state["job_id"]
    reason = describe_error(error)
    record = store.get(job_id)
    if record is None or record.status not in _NOT_FINAL:
        logger.info("Backup already final or never recorded; nothing to record")
        return {"job_id": job_id, "status": record.status if record else "UNKNOWN"}
    source = DataSourceRef.from_dict(record.data_source or state["data_source"])
    folder = backup_folder(config.prefix, source.name, job_id)
    outputs = dict(record.outputs)
    if state.get("provider_job_id"):
        log = _keep_error_log(services, state["provider_job_id"], f"{folder}{ERROR_LOG_NAME}")
        if log:
            outputs["error_log"] = log
    if _exists(objects, f"{folder}{XML_NAME}"):
        outputs["datasource_xml"] = objects.uri(f"{folder}{XML_NAME}")
    outputs["job"] = objects.uri(f"{folder}job.json")
    final = {
        "status": jobs.FAILED,
        "error": reason,
        "completed_at": jobs.iso(jobs.utc_now()),
        "outputs": outputs,
    }
    if not store.update(job_id, allowed_from=_NOT_FINAL, **final):
        return {"job_id": job_id, "status": "ALREADY_FINAL"}
    objects.put_json(f"{folder}job.json", record.to_document() | final)
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    logger.error("Backup failed", extra={"error_type": reason["type"], "reason": reason["message"]})
    return {"job_id": job_id, "status": jobs.FAILED, "error": reason}


def _keep_error_log(services: BackupServices, status_url: str, key: str) -> str | None:
    """The provider's error log of an aborted download, or None when it has none (or cannot
    be read now: the failure is recorded regardless)."""
    try:
        client: DataflowClient = services.client()
        download = client.get_datasource_download(status_url)
        if "failed" not in download.output_urls:
            return None
        services.objects.put_stream(key, client.iter_results(download, "failed"), "text/plain")
    except GeocodeDataflowError as exc:
        logger.warning("The provider's error log could not be kept", extra={"error": str(exc)})
        return None
    return services.objects.uri(key)


def _exists(objects: ObjectStore, key: str) -> bool:
    return any(found == key for found in objects.list_keys(key))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _count_completed(record: JobRecord, now: Any) -> None:
    metrics.add_metric(name="JobsCompleted", unit=MetricUnit.Count, value=1)
    if record.submitted_at:
        duration = (now - jobs.parse_iso(record.submitted_at)).total_seconds()
        metrics.add_metric(name="JobDurationSeconds", unit=MetricUnit.Seconds, value=duration)


def _outcome(record: JobRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "status": record.status,
        "outputs": record.outputs,
        "unchanged": record.unchanged_since is not None,
    }
