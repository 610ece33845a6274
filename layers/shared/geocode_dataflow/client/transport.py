"""HTTP plumbing shared by the client and the synchronous providers: retries, bounds, errors.

Retry policy (urllib3 ``Retry`` on the session's adapter):

* GET (status, download, ListJobs, data source download): retried on connection failures,
  read failures and timeouts, and on 429 / 500 / 502 / 503 / 504, with exponential backoff,
  jitter and ``Retry-After`` honoured (capped at ``backoff_max`` and at the deadline).
* Every method, POST included: retried only on failures to *connect* (refused, DNS, connect
  timeout), where the request provably never left this machine.
* Nothing else: a POST that may have reached the service is never resent by urllib3. The
  service's explicit refusals of a POST (503, 429) are retried by ``create_job`` itself.

Bounds (no provider is trusted to end its answer, or to end it soon):

* ``read_body`` reads at most ``limit`` bytes, after Content-Encoding is undone (urllib3 2.x
  2.6 and later decode in bounded steps): more is ``ResponseTooLargeError``.
* ``Deadline`` bounds one exchange by the wall clock: connect, send, headers, body, and urllib3's
  retries. Per-read timeouts cannot: a server sending a byte every few seconds, or a chunked
  stream that never ends, satisfies every one of them. When the deadline passes, a watchdog
  shuts down the sockets the exchange uses (which wakes a blocked read) and no new connection
  is opened for it; the caller raises ``DeadlineExceededError``. Neither requests nor urllib3
  has such a bound, hence this one. Not covered: a TLS handshake in progress (bounded per
  read by the connect timeout) and SOCKS proxies.
"""

from __future__ import annotations

import email.utils
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
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
    ResponseTooLargeError,
    ServiceUnavailableError,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REFUSAL_STATUSES = frozenset({429, 503})  # the service declined the request: nothing was done
BACKOFF_MAX_SECONDS = 30.0
ERROR_BODY_LIMIT = 256 * 1024  # an error body is read this far for its message, then cut
# A status, create or ListJobs answer is a few KB; 15 days of ListJobs at 50 jobs a day is about
# 1 MB. An Amazon Location answer is smaller still (Azure Maps batches have a cap of their own).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
READ_PIECE = 64 * 1024
QUOTA_MARKER = "jobusagequota"

_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


class DeadlinePassed(Exception):  # noqa: N818 - internal signal, turned into DeadlineExceededError
    """Raised inside urllib3 instead of opening or reusing a connection after the deadline.

    Deliberately not an ``OSError``: urllib3 would take it for a network failure and retry.
    """


_active = threading.local()


class Deadline:
    """A wall-clock bound on one HTTP exchange; the clock starts when it is made.

    ``with Deadline(s) as deadline:`` for an answer read whole; for a body streamed later,
    call ``close`` when done with it. Connections opened or reused by requests made inside
    ``watching()`` (on a session with ``GuardedAdapter``) are the ones shut down when it passes.
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError("a deadline must be > 0 seconds")
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._closed = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def passed(self) -> bool:
        return self._expired or time.monotonic() >= self._ends

    @property
    def remaining(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    @contextmanager
    def watching(self) -> Iterator[Deadline]:
        previous = getattr(_active, "deadline", None)
        _active.deadline = self
        try:
            yield self
        finally:
            _active.deadline = previous

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            if self.passed:
                raise DeadlinePassed(f"the {self.seconds:g} s deadline has passed")
            if sock is not None and not self._closed:
                self._sockets.append(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._sockets.clear()
        self._timer.cancel()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            if self._closed:
                return
            for sock in self._sockets:
                try:
                    # The plain socket's shutdown, also for a TLS one: it only touches the fd,
                    # and wakes a recv blocked in another thread (close would not).
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:  # already closed, or never connected
                    pass


def current_deadline() -> Deadline | None:
    return getattr(_active, "deadline", None)


def _watch(sock: socket.socket | None) -> None:
    deadline = current_deadline()
    if deadline is not None:
        deadline.watch(sock)


class _Watched:
    """Connection mixin: the active deadline watches every socket the connection sends on."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        _watch(None)  # no new connection once the deadline has passed (nor a retry)
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch(sock)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self.sock)  # https: the TLS socket that replaced the plain one

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection, reused by this exchange
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests' adapter whose connections are watched by the active ``Deadline``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are classes of their own
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def mount_guarded_adapter(session: requests.Session, **adapter_kwargs: Any) -> None:
    """A ``GuardedAdapter`` on ``session`` for http:// and https://, unless it has one already
    (a session shared by several providers keeps its pool)."""
    if isinstance(session.get_adapter("https://"), GuardedAdapter) and isinstance(
        session.get_adapter("http://"), GuardedAdapter
    ):
        return
    adapter = GuardedAdapter(**adapter_kwargs)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def _within_deadline(seconds: float) -> float:
    deadline = current_deadline()
    return seconds if deadline is None else min(seconds, deadline.remaining)


class BoundedRetry(Retry):
    """``Retry`` whose waits are capped at ``backoff_max`` (``Retry-After`` too: a server asking
    for an hour must not stall a Lambda invocation for an hour) and at the active deadline."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else _within_deadline(min(seconds, self.backoff_max))

    def get_backoff_time(self) -> float:
        return _within_deadline(super().get_backoff_time())


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
    adapter = GuardedAdapter(max_retries=make_retry(retries, backoff_factor))
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
    """At most ``limit`` bytes of a streamed response body, for an error's message: the rest is
    not read, and a failure (the deadline's included) gives what was read."""
    body = bytearray()
    try:
        for chunk in response.iter_content(READ_PIECE):
            body += chunk
            if len(body) >= limit:
                break
    except requests.RequestException:
        pass
    finally:
        response.close()
    return bytes(body[:limit])


def read_body(response: requests.Response, limit: int, deadline: Deadline, what: str) -> bytes:
    """The whole body of a streamed response, at most ``limit`` bytes once decoded.

    Raises ``ResponseTooLargeError`` (refused from the Content-Length when it says so, else
    as soon as ``limit`` is passed), ``DeadlinePassed`` when the deadline passed (also when the
    body then looked complete: a body delimited by the connection's close, cut by the watchdog,
    does), and requests' exceptions for other failures. The response is closed either way.
    """
    declared = response.headers.get("Content-Length", "").strip()
    announced = declared.isdigit() and int(declared) > limit
    too_large = announced
    body = bytearray()
    broken: requests.RequestException | None = None
    try:
        if not too_large:
            for chunk in response.iter_content(READ_PIECE):
                body += chunk
                if len(body) > limit:
                    too_large = True
                    break
    except requests.RequestException as exc:
        broken = exc
    finally:
        response.close()
    if deadline.passed:
        raise DeadlinePassed(f"the {deadline.seconds:g} s deadline has passed")
    if broken is not None:
        raise broken
    if too_large:
        size = f"announces {declared} bytes" if announced else "goes on"
        raise ResponseTooLargeError(
            f"{what}: the answer {size}, more than the {limit} bytes this client reads"
        )
    return bytes(body)


def envelope_or_empty(
    body: bytes, content_type: str | None, secrets: list[str] | None = None
) -> ResponseEnvelope:
    try:
        return parse_envelope(body, content_type, secrets or ())
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
