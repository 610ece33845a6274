"""Download: the provider's result sets to S3, then the job record COMPLETED and job.json.

Each set present (``succeeded``, ``failed``; a set with no entities has no link and is not
fetched) is streamed from the provider straight into a multipart upload under
``<results prefix><input name>/<job id>/``; nothing is visible there until a set is whole.
Running it twice is harmless: the objects are overwritten with the same content.
"""

from __future__ import annotations

from typing import Any

from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.dispatch import release_and_dispatch
from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.observability import MetricUnit, logger, metrics
from geocode_dataflow.pipeline.submit import Services, input_name

RESULT_SETS = ("succeeded", "failed")
EXTENSIONS = {"xml": "xml", "csv": "csv", "tab": "tsv", "pipe": "txt"}
CONTENT_TYPES = {
    "xml": "application/xml",
    "csv": "text/csv",
    "tab": "text/tab-separated-values",
    "pipe": "text/plain",
}


def results_folder(record: JobRecord, config: PipelineConfig) -> str:
    return f"{config.results_prefix}{input_name(record.input.key, config.input_prefix)}/{record.job_id}/"


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
        return {"job_id": job_id, "status": jobs.COMPLETED, "outputs": record.outputs}

    client = services.client_factory()
    provider_job = client.get_job(state["provider_job_id"])
    fmt = record.input_format or "xml"
    folder = results_folder(record, config)
    outputs: dict[str, str] = {}
    for which in RESULT_SETS:
        if which not in provider_job.output_urls:
            continue
        key = f"{folder}{which}.{EXTENSIONS.get(fmt, 'txt')}"
        chunks = client.iter_results(provider_job, which)
        size = objects.put_stream(key, chunks, CONTENT_TYPES.get(fmt, "text/plain"))
        outputs[which] = objects.uri(key)
        logger.info(
            "Result set stored", extra={"set": which, "bytes": size, "object": outputs[which]}
        )
    outputs["job"] = objects.uri(f"{folder}job.json")

    total = provider_job.total_entity_count
    if total is None:
        total = record.total_entities
    failed = provider_job.failed_entity_count or 0
    succeeded = max(0, (total or 0) - failed)
    now = jobs.utc_now()
    final = {
        "status": jobs.COMPLETED,
        "processed_entities": provider_job.processed_entity_count,
        "succeeded_entities": succeeded,
        "failed_entities": failed,
        "completed_at": jobs.iso(now),
        "outputs": outputs,
    }
    # job.json first, the record last: once the record says COMPLETED, everything is there.
    document = record.to_document() | final | {"updated_at": jobs.iso(now)}
    objects.put_json(f"{folder}job.json", document)
    completed = store.update(job_id, allowed_from=frozenset({jobs.PENDING, jobs.RECEIVED}), **final)
    if not completed:
        current = store.get(job_id)
        status = current.status if current else "UNKNOWN"
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
    return {
        "job_id": job_id,
        "status": jobs.COMPLETED,
        "outputs": outputs,
        "succeeded": succeeded,
        "failed": failed,
    }
