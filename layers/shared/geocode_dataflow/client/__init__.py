"""A client for the Bing Maps Geocode Dataflow REST API (and Data Source Download).

``DataflowClient`` does the HTTP; ``parse_job_response`` reads a job-resource response (JSON or
XML) on its own, e.g. from a fixture. Errors are those of ``geocode_dataflow.errors``.
"""

from geocode_dataflow.client.client import (
    DEFAULT_ENDPOINT,
    INPUT_FORMATS,
    RESULT_SETS,
    DataflowClient,
)
from geocode_dataflow.client.model import ABORTED, COMPLETED, PENDING, DataflowJob, ResponseEnvelope
from geocode_dataflow.client.parsing import (
    clean_url,
    parse_date,
    parse_envelope,
    parse_job_response,
)
from geocode_dataflow.client.security import is_loopback_host, redact

__all__ = [
    "ABORTED",
    "COMPLETED",
    "DEFAULT_ENDPOINT",
    "INPUT_FORMATS",
    "PENDING",
    "RESULT_SETS",
    "DataflowClient",
    "DataflowJob",
    "ResponseEnvelope",
    "clean_url",
    "is_loopback_host",
    "parse_date",
    "parse_envelope",
    "parse_job_response",
    "redact",
]
