"""The Bing Maps Dataflow service as a job provider: the service runs the job, we relay it."""

from __future__ import annotations

from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import CONTENT_TYPES, RESULT_SETS, StoredResults, result_key
from geocode_dataflow.schema import utf8_chunks


class BingDataflowJobs:
    def __init__(self, client: DataflowClient, objects: ObjectStore) -> None:
        self._client = client
        self._objects = objects

    def create_job(self, record: JobRecord) -> str:
        # The body is streamed from S3, gunzipped and transcoded to UTF-8 on the way; its
        # description is our job id, which is how a lost create is found again (find_job).
        source = self._objects.open(record.input.key, record.input.version_id)
        chunks = utf8_chunks(source, record.input.key)
        created = self._client.create_job(
            chunks, str(record.input_format), description=record.job_id
        )
        return created.id

    def find_job(self, job_id: str) -> str | None:
        for job in self._client.list_jobs():
            if job.description == job_id and job.status in ("Pending", "Completed"):
                return job.id
        return None

    def get_job(self, provider_job_id: str) -> DataflowJob:
        return self._client.get_job(provider_job_id)

    def store_results(self, provider_job_id: str, record: JobRecord, folder: str) -> StoredResults:
        job = self._client.get_job(provider_job_id)
        fmt = record.input_format or "xml"
        outputs: dict[str, str] = {}
        for which in RESULT_SETS:
            if which not in job.output_urls:
                continue  # a set with no entities has no link
            key = result_key(folder, which, fmt)
            chunks = self._client.iter_results(job, which)
            size = self._objects.put_stream(key, chunks, CONTENT_TYPES.get(fmt, "text/plain"))
            outputs[which] = self._objects.uri(key)
            logger.info(
                "Result set stored", extra={"set": which, "bytes": size, "object": outputs[which]}
            )
        total = (
            job.total_entity_count if job.total_entity_count is not None else record.total_entities
        )
        return StoredResults(
            outputs=outputs,
            total=total,
            processed=job.processed_entity_count,
            failed=job.failed_entity_count or 0,
        )
