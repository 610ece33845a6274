"""Every error this package raises, in one place.

Retryable errors derive from ``TransientError``; errors that a retry cannot fix derive from
``PermanentError``. The state machine routes on the class names, so renaming one is a change
to template.yaml too. Messages carry the provider's own words but never the access key.
"""

from __future__ import annotations


class GeocodeDataflowError(Exception):
    """Base of every error raised by this package."""


class TransientError(GeocodeDataflowError):
    """Worth retrying later: the same call may succeed."""


class PermanentError(GeocodeDataflowError):
    """Retrying will not help; report it."""


class DataflowServiceError(GeocodeDataflowError):
    """Mixin carrying what the Dataflow service said about a failed request."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_details: list[str] | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_details = list(error_details or [])
        self.trace_id = trace_id


class ServiceUnavailableError(DataflowServiceError, TransientError):
    """5xx, timeouts and connection resets that outlived the client's own retries."""


class ProviderThrottledError(DataflowServiceError, TransientError):
    """A synchronous provider answered 429 / ThrottlingException: over the account's rate."""


class SplitBatchError(DataflowServiceError, TransientError):
    """The provider timed out on a batch (Azure Maps 408): retry it in two halves."""


class QuotaExceededError(DataflowServiceError, TransientError):
    """503 ``JobUsageQuota`` or 429: too many jobs in process or in the last 24 hours."""


class BadRequestError(DataflowServiceError, PermanentError):
    """400: the service refused the request (its ``errorDetails`` are in the message)."""


class AuthenticationError(DataflowServiceError, PermanentError):
    """401/403: the key is missing, wrong, expired or not allowed."""


class JobNotFoundError(DataflowServiceError, PermanentError):
    """404: the job id is unknown or its results have expired (14 days)."""


class ProtocolError(DataflowServiceError, PermanentError):
    """The service answered something this client cannot read."""


class ResponseTooLargeError(ProtocolError):
    """The provider's answer is bigger than this client reads: a status answer of hundreds of MB,
    a result set beyond ``max_result_bytes``, a gzip body expanding without end. Reading it again
    would not make it smaller."""


class ResponseTooDeepError(ProtocolError):
    """The provider's JSON or XML answer nests deeper than any real answer (a parser bomb)."""


class DeadlineExceededError(ServiceUnavailableError):
    """The provider did not finish answering within the call's deadline (a stream that never
    ends, a byte every few seconds): per-read timeouts cannot catch that; a later call may fare
    better."""


class InsecureEndpointError(PermanentError):
    """Refusing to send the key over plain http to a host that is not loopback."""


class InvalidFeedError(PermanentError):
    """The input file has file-level errors; nothing was sent to the service."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class JobAbortedError(PermanentError):
    """The provider ended the job with status Aborted."""
