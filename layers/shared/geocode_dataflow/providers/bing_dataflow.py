"""The Bing Maps Dataflow service as a job provider: the service runs the job, we relay it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.client.upload import UploadBody
from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import (
    CONTENT_TYPES,
    RESULT_SETS,
    StoredResults,
    input_mapping,
    result_format,
    result_key,
)
from geocode_dataflow.schema import (
    PLAIN_FORMATS,
    TEXT_FORMATS,
    FeedWriter,
    TableMapping,
    open_feed,
    utf8_chunks,
)
from geocode_dataflow.schema.columns import RESPONSE_TEXT_COLUMNS

# What the service writes back in a text result set: only the columns the upload's header
# has. A header of request columns alone would come back without coordinates.
RESPONSE_COLUMNS = RESPONSE_TEXT_COLUMNS
_SPOOL_BYTES = 1024 * 1024


class _Spool:
    """A sink that hands what was written to a generator, about a megabyte at a time."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data, self.pieces, self.size = b"".join(self.pieces), [], 0
        return data


def with_response_columns(
    source: BinaryIO, key: str, fmt: str, mapping: TableMapping | None = None
) -> Iterator[bytes]:
    """The text file ``source`` rewritten (streaming, UTF-8) with the response columns added
    to its header, values unchanged, so that the service's results carry coordinates. A plain
    table (``fmt`` csv, ``mapping`` its sidecar) becomes v2.0 csv of the columns it fills."""
    spool = _Spool()
    with source, open_feed(source, key, mapping=mapping) as reader:
        columns = [c for c in reader.columns or [] if c]
        writer = FeedWriter(
            spool, fmt, columns=[*columns, *RESPONSE_COLUMNS], version_line=reader.version_line
        )
        for entity in reader:
            writer.write(entity)
            if spool.size >= _SPOOL_BYTES:
                yield spool.take()
        writer.close()
    yield spool.take()


def _has_response_columns(source: BinaryIO, key: str) -> bool:
    with source as body, open_feed(body, key) as reader:
        return any(c in RESPONSE_COLUMNS for c in reader.columns or [])


class BingDataflowJobs:
    def __init__(self, client: DataflowClient, objects: ObjectStore) -> None:
        self._client = client
        self._objects = objects

    def create_job(self, record: JobRecord, body: UploadBody | None = None) -> str:
        # The body is streamed from S3, gunzipped and transcoded to UTF-8 on the way; its
        # description is our job id, which is how a lost create is found again (find_job).
        # ``body``: the file as the submit's validating read spooled it (S3 is not read again).
        key, version = record.input.key, record.input.version_id
        fmt = str(record.input_format)

        def source() -> BinaryIO:
            return body.reader() if body is not None else self._objects.open(key, version)

        chunks: Iterator[bytes] | UploadBody
        if fmt in PLAIN_FORMATS:
            # A plain table has no v2.0 form: it is sent as v2.0 csv.
            mapping = input_mapping(self._objects, key)
            chunks = with_response_columns(source(), key, "csv", mapping)
        elif fmt in TEXT_FORMATS and not _has_response_columns(source(), key):
            chunks = with_response_columns(source(), key, fmt)
        elif body is not None:
            chunks = body
        else:
            chunks = utf8_chunks(self._objects.open(key, version), key)
        created = self._client.create_job(
            chunks, result_format(record.input_format), description=record.job_id
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
        fmt = result_format(record.input_format)
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
