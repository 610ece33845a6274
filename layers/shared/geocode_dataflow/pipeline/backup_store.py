"""Store Backup and Record Backup Failure: the end of a data source backup.

A completed download is streamed to the function's temporary storage, its digest compared
with the data source's last backup, and then either

- recorded as unchanged (``unchanged_since`` names the backup it equals; its files are the
  outputs), so that a daily schedule does not pile up copies; or
- kept under ``<prefix><data source name>/<job id>/``: the provider's XML byte for byte, and
  ``entities.csv``, ``entities.geojson``, ``schema.json`` converted from it (``datasources``),
  then ``job.json``, the backup listed in the data source's ``backups.json``
  (``backup_history``), the record COMPLETED, and the oldest backups beyond ``keep`` deleted,
  in that order. A backup whose job ended meanwhile (cancelled) is taken out of the list and
  its copy deleted: a cancelled backup keeps nothing, and deletes no older one.

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
from geocode_dataflow.pipeline.backup_history import (
    Entry,
    History,
    change_history,
    history_key,
    read_history,
)
from geocode_dataflow.pipeline.failure import describe_error
from geocode_dataflow.pipeline.jobs import JobRecord, JobStore
from geocode_dataflow.pipeline.notify import Notifier, SilentNotifier, announce
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics
from geocode_dataflow.pipeline.storage import ObjectStore

XML_NAME = "datasource.xml"
ERROR_LOG_NAME = "error-log.txt"
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
    notifier: Notifier | SilentNotifier = field(default_factory=SilentNotifier)

    def announce(self, job_id: str) -> None:
        """The backup's end, as its record now stands (``notify``: never fails the job)."""
        announce(self, job_id)


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
    key = history_key(config.prefix, source.name)
    client: DataflowClient = services.client()
    download = client.get_datasource_download(state["provider_job_id"])
    with tempfile.TemporaryDirectory(prefix="backup-") as tmp:
        work = Path(tmp)
        xml = work / XML_NAME
        with open(xml, "wb") as sink:
            client.download_datasource(download, sink)
        digest = _sha256(xml)
        history = read_history(objects, key, source.name)
        # A retry after this backup was listed (and before its record was completed) compares
        # with the backup before it, not with itself.
        history.without(job_id)
        latest = history.latest
        if latest and latest.get("content_digest") == digest:
            return _unchanged(record, latest, digest, key, source.name, services)
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
    entry = {
        "job_id": job_id,
        "completed_at": jobs.iso(now),
        "content_digest": digest,
        "entities": conversion.entities,
        "entity_type": conversion.schema.entity_type,
        "folder": objects.uri(folder),
    }

    def listed(history: History) -> None:
        history.without(job_id)
        history.backups.append(entry)

    # Listed before the record is completed (a retry finds it listed, and lists it once);
    # older backups are deleted only once it is completed.
    change_history(objects, key, source.name, listed)
    if not store.update(job_id, allowed_from=frozenset({jobs.PENDING}), **final):
        return _withdrawn(job_id, folder, key, source.name, services)
    _count_completed(record, now)
    services.announce(job_id)
    for oldest in change_history(objects, key, source.name, lambda h: h.beyond(config.keep)):
        objects.delete(list(objects.list_keys(objects.key_of(str(oldest["folder"])))))
        logger.info("Old backup deleted", extra={"backup": oldest["job_id"]})
    logger.info(
        "Data source backed up",
        extra={"entities": conversion.entities, "located": conversion.located},
    )
    return {"job_id": job_id, "status": jobs.COMPLETED, "outputs": outputs, "unchanged": False}


def _withdrawn(
    job_id: str, folder: str, key: str, name: str, services: BackupServices
) -> dict[str, Any]:
    """The job ended while its backup was being stored (cancelled): nothing of it is kept,
    and its job.json says how it ended."""
    store, objects = services.store, services.objects
    change_history(objects, key, name, lambda history: history.without(job_id))
    objects.delete([f"{folder}{file_name}" for _, file_name, _ in _FILES])
    current = store.get(job_id)
    assert current is not None  # noqa: S101 - it was read before, and records are not deleted
    objects.put_json(f"{folder}job.json", current.to_document())
    logger.warning("The backup ended before it was stored; its copy is removed",
                   extra={"status": current.status})  # fmt: skip
    return {"job_id": job_id, "status": current.status, "outputs": current.outputs,
            "unchanged": False}  # fmt: skip


def _unchanged(
    record: JobRecord,
    latest: Entry,
    digest: str,
    key: str,
    name: str,
    services: BackupServices,
) -> dict[str, Any]:
    """Nothing new since the last backup: recorded, and no second copy kept. ``key``,
    ``name``: the data source's ``backups.json`` and its name."""
    now = jobs.utc_now()
    same = str(latest["job_id"])
    previous = services.store.get(same)
    outputs = dict(previous.outputs) if previous is not None else {}

    def confirmed(history: History) -> None:
        for entry in history.backups:
            if entry.get("job_id") == same:
                entry["confirmed_at"] = jobs.iso(now)

    change_history(services.objects, key, name, confirmed)
    if not services.store.update(
        record.job_id,
        allowed_from=frozenset({jobs.PENDING}),
        status=jobs.COMPLETED,
        content_digest=digest,
        unchanged_since=same,
        total_entities=latest.get("entities"),
        completed_at=jobs.iso(now),
        outputs=outputs,
    ):
        current = services.store.get(record.job_id)
        assert current is not None  # noqa: S101 - it was read before, and records stay
        return _outcome(current)  # it ended meanwhile (cancelled), and was announced then
    _count_completed(record, now)
    services.announce(record.job_id)
    logger.info("Data source unchanged since its last backup", extra={"same_as": same})
    return {
        "job_id": record.job_id,
        "status": jobs.COMPLETED,
        "outputs": outputs,
        "unchanged": True,
    }


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
    services.announce(job_id)
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
