"""Download: the provider's result sets to S3, then the job record COMPLETED and job.json.

Each set with entities (``succeeded``, ``failed``) is streamed by the provider (the Bing
service's download, or the engine's assembly of its chunks) straight into a multipart upload
under ``<results prefix><input name>/<job id>/``; nothing is visible there until a set is
whole. The Bing service's sets come in an order of its own: each is then rewritten in place
in input order (``ordering``) before the record says COMPLETED. Running it twice is harmless:
the objects are overwritten with the same content.
"""

from __future__ import annotations

from typing import Any

from geocode_dataflow.pipeline import jobs, ordering, parts
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.deliver import publish_tables
from geocode_dataflow.pipeline.dispatch import release_and_dispatch
from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.notify import announce
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics
from geocode_dataflow.pipeline.storage import job_folder
from geocode_dataflow.pipeline.submit import Services, input_name


def results_folder(record: JobRecord, config: PipelineConfig) -> str:
    if record.kind == jobs.DATASOURCE_BACKUP:
        return record.input.key  # the backup's own folder (``backup.backup_folder``)
    if record.parent_job_id:
        return parts.part_folder(config.work_prefix, record)  # merged into the parent's
    name = input_name(record.input.key, config.input_prefix)
    return job_folder(config.results_prefix, name, record.job_id)


def download_results(state: dict[str, Any], services: Services) -> dict[str, Any]:
    config, store, objects = services.config, services.store, services.objects
    job_id = state["job_id"]
    record = store.get(job_id)
    if record is None:
        raise LookupError(f"no job record {job_id}")
    if record.status == jobs.COMPLETED:
        # A retry after the record was completed: make sure job.json exists, free the slot.
        objects.put_json(f"{results_folder(record, config)}job.json", record.to_document())
        release_and_dispatch(services, job_id)
        if record.parent_job_id:
            parts.part_ended(record, services)
        return {"job_id": job_id, "status": jobs.COMPLETED, "outputs": record.outputs}

    folder = results_folder(record, config)
    stored = services.provider_factory().store_results(state["provider_job_id"], record, folder)
    if ordering.needs_reordering(record):
        stored = ordering.in_input_order(record, stored, objects, folder)
    # A part's tables are its parent's, made once every part has ended.
    tables, summary = (
        ({}, None)
        if record.parent_job_id
        else publish_tables(record, stored.outputs, objects, folder)
    )
    outputs = {**stored.outputs, **tables, "job": objects.uri(f"{folder}job.json")}
    total = stored.total if stored.total is not None else record.total_entities
    failed = stored.failed
    succeeded = max(0, (total or 0) - failed)
    now = jobs.utc_now()
    final = {
        "status": jobs.COMPLETED,
        "processed_entities": stored.processed,
        "provider_requests": stored.requests,
        "succeeded_entities": succeeded,
        "failed_entities": failed,
        "completed_at": jobs.iso(now),
        "outputs": outputs,
        "summary": summary,
    }
    # job.json first, the record last: once the record says COMPLETED, everything is there.
    document = record.to_document() | final | {"updated_at": jobs.iso(now)}
    objects.put_json(f"{folder}job.json", document)
    completed = store.update(job_id, allowed_from=frozenset({jobs.PENDING, jobs.RECEIVED}), **final)
    if not completed:
        current = store.get(job_id)
        status = current.status if current else "UNKNOWN"
        if status == jobs.CANCELLED:
            # Cancelled while its results were being written: none of them is left behind.
            # job.json is rewritten: it said COMPLETED a moment ago.
            objects.delete(objects.key_of(uri) for name, uri in outputs.items() if name != "job")
            objects.put_json(f"{folder}job.json", current.to_document())
            logger.warning("Job cancelled while its results were stored; results removed")
            return {"job_id": job_id, "status": status, "outputs": current.outputs}
        logger.warning("Results stored, but the job had already ended", extra={"status": status})
        return {"job_id": job_id, "status": status, "outputs": outputs}

    metrics.add_metric(name="JobsCompleted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EntitiesSucceeded", unit=MetricUnit.Count, value=succeeded)
    metrics.add_metric(name="EntitiesFailed", unit=MetricUnit.Count, value=failed)
    if record.submitted_at:
        duration = (now - jobs.parse_iso(record.submitted_at)).total_seconds()
        metrics.add_metric(name="JobDurationSeconds", unit=MetricUnit.Seconds, value=duration)
    logger.info("Job completed", extra={"succeeded": succeeded, "failed": failed})
    release_and_dispatch(services, job_id)
    if record.parent_job_id:
        parts.part_ended(record, services)
    else:
        announce(services, job_id)
    return {
        "job_id": job_id,
        "status": jobs.COMPLETED,
        "outputs": outputs,
        "succeeded": succeeded,
        "failed": failed,
    }
