"""What the Dataflow service says, as typed values: a job resource and the response envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PENDING = "Pending"
COMPLETED = "Completed"
ABORTED = "Aborted"


@dataclass(frozen=True)
class DataflowJob:
    """One ``DataflowJob`` (or ``DataServiceJob``) resource, parsed from JSON or XML.

    ``status`` is the service's word, trimmed (``Pending``, ``Completed``, ``Aborted``). Dates are
    timezone-aware UTC. Counts are ``None`` when absent or empty. URLs are the service's own,
    with whitespace removed and never a key. ``output_urls`` has one entry per output link
    present (``succeeded``, ``failed``): a set with no entities has no link.
    """

    id: str
    status: str | None = None
    description: str | None = None
    created_date: datetime | None = None
    completed_date: datetime | None = None
    total_entity_count: int | None = None
    processed_entity_count: int | None = None
    failed_entity_count: int | None = None
    error_message: str | None = None
    self_url: str | None = None
    output_urls: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    resource_type: str | None = None

    @property
    def is_pending(self) -> bool:
        return (self.status or "").lower() == PENDING.lower()

    @property
    def is_completed(self) -> bool:
        return (self.status or "").lower() == COMPLETED.lower()

    @property
    def is_aborted(self) -> bool:
        return (self.status or "").lower() == ABORTED.lower()

    @property
    def is_finished(self) -> bool:
        return self.is_completed or self.is_aborted

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, dates as ISO 8601; members that are ``None`` are left out."""
        document: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "description": self.description,
            "name": self.name,
            "resource_type": self.resource_type,
            "created_date": self.created_date.isoformat() if self.created_date else None,
            "completed_date": self.completed_date.isoformat() if self.completed_date else None,
            "total_entity_count": self.total_entity_count,
            "processed_entity_count": self.processed_entity_count,
            "failed_entity_count": self.failed_entity_count,
            "error_message": self.error_message,
            "self_url": self.self_url,
            "output_urls": dict(self.output_urls) or None,
        }
        return {key: value for key, value in document.items() if value is not None}


@dataclass(frozen=True)
class ResponseEnvelope:
    """The envelope around every job-resource response, success or error (§2.3, §6.2)."""

    status_code: int | None = None
    status_description: str | None = None
    authentication_result_code: str | None = None
    trace_id: str | None = None
    error_details: tuple[str, ...] = ()
    estimated_total: int | None = None
    jobs: tuple[DataflowJob, ...] = ()
