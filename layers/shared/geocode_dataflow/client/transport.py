"""HTTP plumbing shared by the client's calls: the retry policy and turning failures into errors.

Retry policy (urllib3 ``Retry`` on the session's adapter):

* GET (status, download, ListJobs, data source download): retried on connection failures,
  read failures and timeouts, and on 429 / 500 / 502 / 503 / 504, with exponential backoff,
  jitter and ``Retry-After`` honoured (capped at ``backoff_max``).
* Every method, POST included: retried only on failures to *connect* (refused, DNS, connect
  timeout), where the request provably never left this machine.
* Nothing else: a POST that may have reached the service is never resent by urllib3. The
  service's explicit refusals of a POST (503, 429) are retried by ``create_job`` itself.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.util.retry import Retry

from geocode_dataflow.client.model import ResponseEnvelope
from geocode_dataflow.client.parsing import parse_envelope
from geocode_dataflow.client.security import redact
from geocode_dataflow.errors import (
    AuthenticationError,
    BadRequestError,
    DataflowServiceError,
    JobNotFoundError,
    ProtocolError,
    QuotaExceededError,
    ServiceUnavailableError,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REFUSAL_STATUSES = frozenset({429, 503})  # the service declined the request: nothing was done
BACKOFF_MAX_SECONDS = 30.0
ERROR_BODY_LIMIT = 256 * 1024
QUOTA_MARKER = "jobusagequota"

_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


class BoundedRetry(Retry):
    """``Retry`` whose ``Retry-After`` waits are capped at ``backoff_max`` too: a server asking for
    an hour must not stall a Lambda invocation for an hour."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.backoff_max)


def make_retry(
    retries: int, backoff_factor: float, backoff_max: float = BACKOFF_MAX_SECONDS
) -> Retry:
    return BoundedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_factor,
        backoff_max=backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def mount_retrying_adapter(session: requests.Session, retries: int, backoff_factor: float) -> None:
    adapter = HTTPAdapter(max_retries=make_retry(retries, backoff_factor))
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def nothing_was_sent(exc: BaseException) -> bool:
    """True when requests failed before a single byte of the request left (connect failure)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ReadTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, Urllib3ProxyError):
            reason = getattr(reason, "original_error", reason)
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False


def describe_transport_failure(exc: BaseException, host: str, read_timeout: float | None) -> str:
    """One short line for a requests exception, without its URL (which carries the key)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"could not connect to {host}: timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"{host} did not answer within {read_timeout} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failure talking to {host}"
    if nothing_was_sent(exc):
        found = _ERRNO_TEXT.search(str(exc))
        return f"could not connect to {host}" + (
            f": {found.group(1).strip().lower()}" if found else ""
        )
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the connection to {host} broke while reading the response"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return f"{host} sent a response body that could not be decompressed"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "timed out" in str(exc).lower():
            return f"{host} did not answer within {read_timeout} s"
        return f"the connection to {host} failed ({_innermost_name(exc)})"
    return f"request to {host} failed ({type(exc).__name__})"


def _innermost_name(exc: BaseException) -> str:
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    inner = reason.args[-1] if isinstance(reason, BaseException) and reason.args else reason
    if isinstance(inner, BaseException):
        return type(inner).__name__
    return type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__


def read_limited(response: requests.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """At most ``limit`` bytes of a (possibly streamed) response body; errors give what was read."""
    body = bytearray()
    try:
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) >= limit:
                break
    except requests.RequestException:
        pass
    return bytes(body[:limit])


def envelope_or_empty(body: bytes, content_type: str | None) -> ResponseEnvelope:
    try:
        return parse_envelope(body, content_type)
    except ProtocolError:
        return ResponseEnvelope()


def error_for_status(
    status: int,
    reason: str | None,
    envelope: ResponseEnvelope,
    operation: str,
    secrets: list[str],
    *,
    note: str = "",
) -> DataflowServiceError:
    """The taxonomy's error for an HTTP status, carrying the service's own words."""
    details = list(envelope.error_details)
    said = "; ".join(details) or envelope.status_description or reason or ""
    message = f"{operation} failed with HTTP {status}" + (f": {said}" if said else "")
    if envelope.trace_id:
        message += f" (trace id {envelope.trace_id})"
    if note:
        message += f"; {note}"
    message = redact(message, secrets)
    details = [redact(detail, secrets) for detail in details]
    quota = any(QUOTA_MARKER in detail.lower() for detail in details)
    cls: type[DataflowServiceError]
    if quota or status == 429:
        cls = QuotaExceededError
    elif status in (401, 403):
        cls = AuthenticationError
    elif status in (404, 410):
        cls = JobNotFoundError
    elif 400 <= status < 500:
        cls = BadRequestError
    elif status >= 500:
        cls = ServiceUnavailableError
    else:
        cls = ProtocolError
    return cls(message, status_code=status, error_details=details, trace_id=envelope.trace_id)


def refusal_delay(response: requests.Response, attempt: int, backoff_factor: float) -> float:
    """Seconds before resending a refused POST: ``Retry-After``, else exponential with jitter."""
    header = response.headers.get("Retry-After")
    seconds: float | None = None
    if header:
        header = header.strip()
        if header.isdigit():
            seconds = float(header)
        else:
            parsed = email.utils.parsedate_tz(header)
            if parsed is not None:
                seconds = max(0.0, email.utils.mktime_tz(parsed) - time.time())
    if seconds is None:
        seconds = backoff_factor * (2**attempt) + random.uniform(0, backoff_factor)
    return min(seconds, BACKOFF_MAX_SECONDS)
