"""Who geocodes: one ``JobProvider`` per provider, behind the one job lifecycle of ``pipeline``.

A job provider creates a job for a validated input, reports its status in the Dataflow
vocabulary (a ``DataflowJob``: Pending / Completed / Aborted with counts), and stores its
result sets in S3. Two kinds exist:

- ``bing_dataflow``: the Bing Maps Dataflow service runs the job; the adapter wraps the client.
- ``engine`` (``pipeline.engine``): for synchronous geocoders, which have no job API, the
  pipeline runs the job itself, one request per entity, through an ``EntityGeocoder`` such as
  ``amazon_location``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from geocode_dataflow.client import DataflowJob
    from geocode_dataflow.client.upload import UploadBody
    from geocode_dataflow.pipeline.jobs import JobRecord
    from geocode_dataflow.pipeline.storage import ObjectStore
    from geocode_dataflow.schema import GeocodeEntity, TableMapping

RESULT_SETS = ("succeeded", "failed")
# A plain table (``table``, ``xlsx``) has no v2.0 form of its own: its sets are v2.0 csv.
EXTENSIONS = {
    "xml": "xml", "csv": "csv", "tab": "tsv", "pipe": "txt", "table": "csv", "xlsx": "csv",
}  # fmt: skip
CONTENT_TYPES = {
    "xml": "application/xml",
    "csv": "text/csv",
    "tab": "text/tab-separated-values",
    "pipe": "text/plain",
    "table": "text/csv",
    "xlsx": "text/csv",
}


@dataclass(frozen=True)
class StoredResults:
    """What ``store_results`` wrote: S3 URIs by set name, and the job's final counts."""

    outputs: dict[str, str] = field(default_factory=dict)
    total: int | None = None
    processed: int | None = None
    failed: int = 0
    requests: int | None = None  # provider requests the job took (the engine counts them)


class JobProvider(Protocol):
    """The seam between the job lifecycle and whoever runs the job."""

    def create_job(self, record: JobRecord, body: UploadBody | None = None) -> str:
        """Create the provider job for a validated record; return its id. ``body``: the file
        as the submit's validation read it, spooled for upload (``body_spool.BodySpool``), when
        there is one: a provider that sends the file whole reads it there, not from S3."""

    def find_job(self, job_id: str) -> str | None:
        """The provider job an earlier attempt created for ``job_id``, if any."""

    def get_job(self, provider_job_id: str) -> DataflowJob:
        """The job's status and counts in the Dataflow vocabulary."""

    def store_results(self, provider_job_id: str, record: JobRecord, folder: str) -> StoredResults:
        """Write the result sets under ``folder`` (nothing visible until a set is whole)."""


class EntityGeocoder(Protocol):
    """A synchronous provider (used by the job engine's chunk step).

    ``geocode_batch`` answers up to ``batch_size`` entities in ONE provider request (1 for
    Amazon Location, 100 for Azure Maps); the entities of one request share ``batch_key``
    (e.g. the kind of request and the culture). It fills each entity's responses, StatusCode
    and FaultReason and returns them in order. It raises ``TransientError`` subclasses for what
    a retry may fix (throttling, 5xx, timeouts; ``SplitBatchError`` when the batch must be
    halved) and ``PermanentError`` for what fails the whole job (no permission, bad config).
    """

    name: str
    batch_size: int

    def batch_key(self, entity: GeocodeEntity) -> Hashable: ...

    def geocode_batch(
        self, entities: list[GeocodeEntity], *, text_format: bool
    ) -> list[GeocodeEntity]: ...


def result_format(input_format: str | None) -> str:
    """The Data Schema format of a job's result sets: the input's, v2.0 csv for a plain table."""
    fmt = input_format or "xml"
    return "csv" if fmt in ("table", "xlsx") else fmt


def input_mapping(objects: ObjectStore, key: str) -> TableMapping | None:
    """The sidecar mapping of a plain-table input (``<key>.mapping.json``), if there is one."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    from geocode_dataflow.schema import TableMapping, mapping_key  # noqa: PLC0415

    try:
        with objects.open(mapping_key(key)) as body:
            data = body.read(64 * 1024 + 1)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return TableMapping.from_json(data)


def result_key(folder: str, which: str, fmt: str) -> str:
    return f"{folder}{which}.{EXTENSIONS.get(fmt, 'txt')}"
