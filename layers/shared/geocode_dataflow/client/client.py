"""``DataflowClient``: create geocode jobs, follow them, fetch their results; Data Source Download.

Where the key goes: only to the configured endpoint's origin. Links in responses are followed
verbatim when they point there; a link to another origin (the real service's
``https://spatial.virtualearth.net`` links behind a gateway, an emulator that writes https links)
is followed on the endpoint's origin with the same path and query, so a response can never
steer the key to a host the caller did not choose.

Create Job and POST retries: see ``create_job``. GET retries: see ``transport``.

Bounds: every exchange ends within ``deadline`` seconds (a result-set download within
``download_deadline``), an answer read whole is at most ``transport.MAX_ANSWER_BYTES``, and a
result set at most ``max_result_bytes`` once unpacked, gunzipped in bounded pieces as it streams.
What the service says is scrubbed of the key before it reaches a job, an error or a log.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from typing import IO, Any, BinaryIO
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import requests

from geocode_dataflow.client import transport
from geocode_dataflow.client.model import PENDING, DataflowJob, ResponseEnvelope
from geocode_dataflow.client.parsing import clean_url, parse_envelope
from geocode_dataflow.client.security import Secret, check_endpoint, install_log_redaction, redact
from geocode_dataflow.client.upload import GZIP_MAGIC, ZIP_MAGIC, UploadBody, prepare_upload
from geocode_dataflow.errors import (
    DataflowServiceError,
    DeadlineExceededError,
    JobNotFoundError,
    ProtocolError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    TransientError,
)

DEFAULT_ENDPOINT = "https://spatial.virtualearth.net/REST/v1/Dataflows"
INPUT_FORMATS = ("xml", "csv", "tab", "pipe")
RESULT_SETS = ("succeeded", "failed")
LOGGER_NAME = "geocode_dataflow.client"
# Status polls that may fail in a row before wait_for_job gives up (the toolkit allows 3).
MAX_FAILED_POLLS = 3
# One exchange whose answer is read whole: an upload at the 300 MB limit, gzipped, fits over a
# slow link; a status answer of a few KB normally takes well under a second.
DEFAULT_DEADLINE_SECONDS = 300.0
# One result-set download, first byte to last: 2 GB at 5 MB/s with room to spare. A caller with
# a time limit of its own (a Lambda function) passes what it has left, to end with a named,
# retryable error rather than be killed.
DEFAULT_DOWNLOAD_DEADLINE_SECONDS = 600.0
# A result set, unpacked: 10 KB per entity at the 200,000-entity limit, several times what five
# responses per entity take. A gzip body expanding past it is a bomb, not a result.
DEFAULT_MAX_RESULT_BYTES = 2 * 1024**3
GUNZIP_PIECE = 1 << 20  # bytes of output per decompress step

logger = logging.getLogger(LOGGER_NAME)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAYBE_CREATED = (
    "the job may have been created anyway: look for it with list_jobs (by its description) "
    "before submitting the file again"
)


class DataflowClient:
    """A client for one key and one endpoint. Thread-compatible, not thread-safe (one session)."""

    def __init__(
        self,
        key: str,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout: float | tuple[float, float] = (10, 120),
        retries: int = 5,
        backoff_factor: float = 0.5,
        session: requests.Session | None = None,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        download_deadline: float = DEFAULT_DOWNLOAD_DEADLINE_SECONDS,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> None:
        """``session``: an existing ``requests.Session`` to use (e.g. for proxies or client
        certificates); the client mounts its retrying adapter on it for http:// and https://.

        ``timeout`` bounds each connect and each read; ``deadline`` a whole exchange (its
        retries included) and ``download_deadline`` a whole result-set download, by the wall
        clock (``DeadlineExceededError``). ``max_result_bytes`` caps a result set once unpacked
        (``ResponseTooLargeError``).
        """
        if not isinstance(key, str) or not key.strip():
            raise ValueError("a Bing Maps key is required")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if not (deadline > 0 and download_deadline > 0 and max_result_bytes > 0):
            raise ValueError("deadline, download_deadline and max_result_bytes must be > 0")
        self.endpoint = check_endpoint(endpoint)
        self.timeout = timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.deadline = deadline
        self.download_deadline = download_deadline
        self.max_result_bytes = max_result_bytes
        self._key = Secret(key.strip())
        parts = urlsplit(self.endpoint)
        self._origin = (parts.scheme, parts.netloc)
        self._origin_id = _origin_id(self.endpoint)
        self._session = session if session is not None else requests.Session()
        transport.mount_retrying_adapter(self._session, retries, backoff_factor)
        install_log_redaction([LOGGER_NAME])
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return f"DataflowClient(endpoint={self.endpoint!r}, key='***')"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DataflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- geocode jobs --------------------------------------------------------------------------

    def create_job(
        self,
        data: bytes | BinaryIO | Iterable[bytes] | UploadBody,
        input_format: str,
        *,
        description: str | None = None,
    ) -> DataflowJob:
        """Uploads a feed and returns the new job (``Pending``).

        ``data`` is the UTF-8 feed: bytes, a binary file object or an iterable of byte chunks
        (e.g. ``schema.utf8_chunks``). It is read once, gzipped into a spool when above 64 KB
        (see ``upload``) and sent with a ``Content-Length``. Or it is an ``UploadBody`` the
        caller built while reading the feed for another reason (``upload.UploadSpool``): sent
        as it is, and left to the caller to close.

        Resending a POST could create a second, billable job, so it happens only when the
        service provably created nothing:
        * the connection could not be established (urllib3 retries those, nothing was sent);
        * the service answered 503 (pending-job quota ``JobUsageQuota``, or unavailable) or 429:
          a refusal, the request was not processed. Resent up to ``retries`` times, waiting
          ``Retry-After`` or an exponential backoff with jitter, from the spooled body.
        Anything else that can happen after the body left (timeout, reset, 500, 502, 504, or a
        2xx answer naming no job) is raised at once as ``ServiceUnavailableError`` whose message
        says the job may exist: find it with ``list_jobs`` by its description before resending.
        """
        fmt = _input_format(input_format)
        params = {"input": fmt, "output": "json"}
        if description:
            params["description"] = description
        url = f"{self.endpoint}/Geocode"
        ready = isinstance(data, UploadBody)
        with nullcontext(data) if ready else prepare_upload(data, fmt) as body:
            if body.source_length == 0:
                raise ValueError("nothing to upload: the data is empty")
            logger.info(
                "Creating a geocode job: %d bytes of %s sent as %d bytes (%s)",
                body.source_length,
                fmt,
                body.length,
                body.content_type,
            )
            attempt = 0
            while True:
                error: Exception | None = None
                response: requests.Response | None = None
                with transport.Deadline(self.deadline) as deadline:
                    try:
                        response = self._request(
                            "POST",
                            url,
                            params=params,
                            deadline=deadline,
                            data=body.payload(),
                            headers={"Content-Type": body.content_type},
                        )
                    except (requests.RequestException, transport.DeadlinePassed) as exc:
                        note = "" if transport.nothing_was_sent(exc) else _MAYBE_CREATED
                        error = self._transport_error(exc, "create job", deadline, note=note)
                    if error is not None:
                        raise error
                    assert response is not None
                    if 200 <= response.status_code < 300:
                        return self._created_job(response, url, deadline)
                    refused = response.status_code in transport.REFUSAL_STATUSES
                    note = (
                        "nothing was created"
                        if refused
                        else (_MAYBE_CREATED if response.status_code >= 500 else "")
                    )
                    error = self._status_error(response, "create job", note=note)
                if not refused or attempt >= self.retries:
                    raise error
                delay = transport.refusal_delay(response, attempt, self.backoff_factor)
                logger.warning(
                    "The service refused the upload with HTTP %d (nothing was created); "
                    "sending it again in %.1f s (%d/%d)",
                    response.status_code,
                    delay,
                    attempt + 1,
                    self.retries,
                )
                self._sleep(delay)
                attempt += 1

    def get_job(self, job_id_or_url: str | DataflowJob) -> DataflowJob:
        """The job's current state, by id, by its ``self`` URL, or from a job returned earlier."""
        url = self._status_url(job_id_or_url)
        with transport.Deadline(self.deadline) as deadline:
            response = self._send(
                "GET", url, params={"output": "json"}, operation="get job status", deadline=deadline
            )
            return self._single_job(response, "get job status", deadline)

    def list_jobs(self) -> list[DataflowJob]:
        """Every job of the account from the last 15 days, pending ones first (ListJobs)."""
        with transport.Deadline(self.deadline) as deadline:
            response = self._send(
                "GET",
                f"{self.endpoint}/ListJobs",
                params={"output": "json"},
                operation="list jobs",
                deadline=deadline,
            )
            envelope = self._parse(response, "list jobs", deadline)
        return list(envelope.jobs)

    def wait_for_job(
        self,
        job_or_id: str | DataflowJob,
        *,
        poll_seconds: float = 5.0,
        max_poll_seconds: float = 60.0,
        timeout: float | None = None,
        on_poll: Callable[[DataflowJob, float], None] | None = None,
    ) -> DataflowJob:
        """Polls until the job is Completed or Aborted and returns it.

        Waits ``poll_seconds`` first, then 1.5 times longer each poll, up to
        ``max_poll_seconds``. Up to ``MAX_FAILED_POLLS`` transient failures in a row are
        tolerated. Raises ``TimeoutError`` after ``timeout`` seconds (the job keeps running).
        """
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be > 0")
        cap = max(max_poll_seconds, poll_seconds)
        started = self._clock()
        wait = poll_seconds
        failures = 0
        while True:
            try:
                job = self.get_job(job_or_id)
            except TransientError as exc:
                failures += 1
                if failures > MAX_FAILED_POLLS:
                    raise
                logger.warning("Status check failed (%d/%d): %s", failures, MAX_FAILED_POLLS, exc)
            else:
                failures = 0
                if on_poll is not None:
                    on_poll(job, self._clock() - started)
                if job.is_finished:
                    return job
                job_or_id = job.self_url or job.id
            elapsed = self._clock() - started
            if timeout is not None and elapsed + wait > timeout:
                remaining = timeout - elapsed
                if remaining <= 0:
                    raise TimeoutError(f"the job was still pending after {timeout:g} s")
                wait = remaining
            self._sleep(wait)
            wait = min(cap, wait * 1.5)

    def iter_results(
        self, job: DataflowJob, which: str, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """The ``succeeded`` or ``failed`` set of a completed job, as a stream of byte chunks.

        The request is made now (errors raise here, before the first chunk); the body is then
        read lazily. Results are always plain: a ``Content-Encoding: gzip``, a raw gzip body or a
        zip archive (first entry, as the toolkit reads it) is unpacked on the way.
        Raises ``JobNotFoundError`` when the job has no such set (a set with no entities has no
        link) or the service no longer has it (14-day retention); ``ResponseTooLargeError``
        past ``max_result_bytes`` and ``DeadlineExceededError`` past ``download_deadline``
        while streaming.
        """
        url = self._output_url(job, which)
        operation = f"download the {which.lower()} results of job {job.id}"
        deadline = transport.Deadline(self.download_deadline)
        try:
            response = self._open_download(url, operation, deadline)
        except BaseException:
            deadline.close()
            raise
        return self._unpacked(response, chunk_size, operation, deadline)

    def download_results(self, job: DataflowJob, which: str, sink: BinaryIO) -> int:
        """Writes a result set to ``sink``; returns the number of bytes written.

        If the connection breaks mid-body and ``sink`` is seekable, the set is fetched again
        from the start (twice at most), overwriting what was written.
        """
        return self._download_to(lambda: self.iter_results(job, which), sink)

    # --- data source download ------------------------------------------------------------------

    def create_datasource_download(
        self, access_id: str, data_source_name: str, *, job_id: str | None = None
    ) -> DataflowJob:
        """Starts a Data Source Download job (a GET; the key must be the data source master key).

        The status URL is the body's ``self`` link, else the ``Location`` header. This GET is
        retried like any other: a duplicate download job costs nothing and counts against no
        documented quota.
        """
        if not access_id.strip() or not data_source_name.strip():
            raise ValueError("an access id and a data source name are required")
        url = (
            f"{self.endpoint}/DataSourceDownload/{quote(access_id.strip(), safe='')}/"
            f"{quote(data_source_name.strip(), safe='')}"
        )
        params = {"output": "json"}
        if job_id:
            params["jobId"] = job_id
        with transport.Deadline(self.deadline) as deadline:
            response = self._send(
                "GET",
                url,
                params=params,
                operation="create a data source download job",
                deadline=deadline,
            )
            return self._created_job(response, url, deadline)

    def get_datasource_download(self, job_or_url: DataflowJob | str) -> DataflowJob:
        """The state of a Data Source Download job, from the job returned by create or its URL."""
        if isinstance(job_or_url, DataflowJob) and not job_or_url.self_url:
            raise ValueError(f"data source download job {job_or_url.id} has no status URL")
        return self.get_job(job_or_url)

    def download_datasource(self, job: DataflowJob, sink: BinaryIO) -> int:
        """Writes the downloaded data source (XML) to ``sink``; returns the number of bytes.

        For an Aborted job, ``download_results(job, "failed", sink)`` fetches its error log.
        """
        return self.download_results(job, "succeeded", sink)

    # --- requests ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str],
        deadline: transport.Deadline,
        **kwargs: Any,
    ) -> requests.Response:
        """Sends the request and reads the headers; the body is left to the caller (streamed)."""
        target = self._on_endpoint(url)
        query = dict(params)
        query["key"] = self._key.reveal()
        started = time.monotonic()
        with deadline.watching():
            response = self._session.request(
                method,
                target,
                params=query,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
                **kwargs,
            )
        logger.debug(
            "%s %s -> %d (%.2f s)",
            method,
            redact(target, [self._key.reveal()]),
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str],
        operation: str,
        deadline: transport.Deadline,
    ) -> requests.Response:
        """A request whose non-2xx answers and transport failures become taxonomy errors."""
        error: Exception | None = None
        try:
            response = self._request(method, url, params=params, deadline=deadline)
        except (requests.RequestException, transport.DeadlinePassed) as exc:
            error = self._transport_error(exc, operation, deadline)
        # Raised outside the except block on purpose: requests' exceptions hold the URL with the
        # key, and an exception raised inside the block would keep them as __context__.
        if error is not None:
            raise error
        if 200 <= response.status_code < 300:
            return response
        raise self._status_error(response, operation)

    def _read(
        self, response: requests.Response, operation: str, deadline: transport.Deadline
    ) -> bytes:
        """The whole (small) answer, bounded in size and by the deadline."""
        error: Exception
        try:
            return transport.read_body(response, transport.MAX_ANSWER_BYTES, deadline, operation)
        except (requests.RequestException, transport.DeadlinePassed) as exc:
            error = self._transport_error(exc, operation, deadline)
        raise error  # outside the except block: see _send

    def _transport_error(
        self,
        exc: BaseException,
        operation: str,
        deadline: transport.Deadline | None = None,
        *,
        note: str = "",
    ) -> ServiceUnavailableError:
        host = urlsplit(self.endpoint).netloc
        cls = ServiceUnavailableError
        if isinstance(exc, transport.DeadlinePassed) or (deadline is not None and deadline.passed):
            cls = DeadlineExceededError
            seconds = deadline.seconds if deadline is not None else self.deadline
            message = f"{operation} failed: {host} did not finish answering within {seconds:g} s"
        else:
            timeout = self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout
            described = transport.describe_transport_failure(exc, host, timeout)
            message = f"{operation} failed: {described}"
            if self.retries and _retried(exc):
                message += " (after retrying)"
        if note:
            message += f"; {note}"
        return cls(redact(message, [self._key.reveal()]))

    def _status_error(
        self, response: requests.Response, operation: str, *, note: str = ""
    ) -> DataflowServiceError:
        try:
            if 300 <= response.status_code < 400:
                location = redact(response.headers.get("Location", ""), [self._key.reveal()])
                return ProtocolError(
                    f"{operation}: unexpected redirect (HTTP {response.status_code}) "
                    f"to {location or 'nowhere'}",
                    status_code=response.status_code,
                )
            body = transport.read_limited(response)
            envelope = transport.envelope_or_empty(
                body, response.headers.get("Content-Type"), [self._key.reveal()]
            )
        finally:
            response.close()
        return transport.error_for_status(
            response.status_code,
            response.reason,
            envelope,
            operation,
            [self._key.reveal()],
            note=note,
        )

    def _parse(
        self, response: requests.Response, operation: str, deadline: transport.Deadline
    ) -> ResponseEnvelope:
        content_type = response.headers.get("Content-Type")
        body = self._read(response, operation, deadline)
        error: ProtocolError | None = None
        try:
            envelope = parse_envelope(body, content_type, [self._key.reveal()])
        except ProtocolError as exc:
            # Same class (ResponseTooDeepError stays one), the operation's name in front.
            error = type(exc)(
                redact(f"{operation}: {exc}", [self._key.reveal()]),
                status_code=response.status_code,
            )
        if error is not None:
            raise error
        if not envelope.jobs and envelope.status_code is not None and envelope.status_code >= 400:
            # HTTP said success but the body says otherwise: believe the more specific one.
            raise transport.error_for_status(
                envelope.status_code,
                envelope.status_description,
                envelope,
                operation,
                [self._key.reveal()],
            )
        return envelope

    def _single_job(
        self, response: requests.Response, operation: str, deadline: transport.Deadline
    ) -> DataflowJob:
        envelope = self._parse(response, operation, deadline)
        if not envelope.jobs:
            raise ProtocolError(
                f"{operation}: the response (HTTP {response.status_code}) carries no job resource",
                status_code=response.status_code,
                trace_id=envelope.trace_id,
            )
        return envelope.jobs[0]

    def _created_job(
        self, response: requests.Response, url: str, deadline: transport.Deadline
    ) -> DataflowJob:
        """The job from a 2xx create answer: the body's resource, else the ``Location`` header."""
        location = clean_url(response.headers.get("Location"))
        if location:
            location = redact(urljoin(url, location), [self._key.reveal()])
        envelope: ResponseEnvelope | None = None
        unreadable: ProtocolError | None = None
        try:
            envelope = self._parse(response, "create job", deadline)
        except ProtocolError as exc:
            unreadable = exc
        except ServiceUnavailableError as exc:  # the answer broke off, or ran out of time
            if not location:
                raise type(exc)(f"{exc}; {_MAYBE_CREATED}") from None
            unreadable = ProtocolError(str(exc))
        job = envelope.jobs[0] if envelope and envelope.jobs else None
        if job is None:
            if not location:
                # A 2xx means the service took the request: the job most likely exists. Raised
                # as transient, not ProtocolError, so that callers look for it (list_jobs, by
                # description) rather than give up on a job that runs, or create another.
                said = (
                    f"its answer is unreadable ({unreadable})"
                    if unreadable
                    else ("its answer names no job (no resource, no Location header)")
                )
                raise ServiceUnavailableError(
                    f"the service accepted the request (HTTP {response.status_code}) but "
                    f"{said}; {_MAYBE_CREATED}",
                    status_code=response.status_code,
                    trace_id=envelope.trace_id if envelope else None,
                )
            if unreadable:
                logger.warning("Unreadable create answer; the job is taken from its Location")
            job_id = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1])
            job = DataflowJob(id=job_id, status=PENDING, self_url=location)
        elif not job.self_url and location:
            job = replace(job, self_url=location)
        logger.info("Job %s created (%s)", job.id, job.status)
        return job

    # --- URLs ----------------------------------------------------------------------------------

    def _on_endpoint(self, url: str) -> str:
        """``url`` itself when it points at the endpoint's origin, else the same path there."""
        if _origin_id(url) == self._origin_id:
            return url
        parts = urlsplit(url)
        moved = urlunsplit((self._origin[0], self._origin[1], parts.path, parts.query, ""))
        logger.debug("Following %s on the configured endpoint's origin", redact(url))
        return moved

    def _status_url(self, job_id_or_url: str | DataflowJob) -> str:
        if isinstance(job_id_or_url, DataflowJob):
            job_id_or_url = job_id_or_url.self_url or job_id_or_url.id
        value = (job_id_or_url or "").strip()
        if not value:
            raise ValueError("a job id or a job URL is required")
        if value.lower().startswith(("http://", "https://")):
            return clean_url(value) or value
        return f"{self.endpoint}/Geocode/{quote(value, safe='')}"

    def _output_url(self, job: DataflowJob, which: str) -> str:
        name = (which or "").strip().lower()
        if name not in job.output_urls:
            present = ", ".join(sorted(job.output_urls)) or "none"
            if not job.is_completed and not job.output_urls:
                status = job.status or "not completed"
                hint = f"job {job.id} is {status}; results appear once it is Completed"
            else:
                hint = "a set with no entities has no link"
            raise JobNotFoundError(
                f"job {job.id} has no {name or '(unnamed)'!r} result set "
                f"(sets present: {present}); {hint}"
            )
        return job.output_urls[name]

    # --- downloads -----------------------------------------------------------------------------

    def _open_download(
        self, url: str, operation: str, deadline: transport.Deadline
    ) -> requests.Response:
        try:
            return self._send("GET", url, params={}, operation=operation, deadline=deadline)
        except JobNotFoundError:
            corrected = _fix_output_spelling(url)
            if corrected == url:
                raise
        # Q12: some examples spell the output link ".../ouput/succeeded". It is followed as sent
        # first; only when that is not found is the correctly spelled path tried.
        logger.info("Result link %s not found; trying the /output/ spelling", redact(url))
        return self._send("GET", corrected, params={}, operation=operation, deadline=deadline)

    def _unpacked(
        self,
        response: requests.Response,
        chunk_size: int,
        operation: str,
        deadline: transport.Deadline,
    ) -> Iterator[bytes]:
        chunks = self._chunks(response, chunk_size, operation, deadline)
        limit = self.max_result_bytes
        try:
            first = next(chunks, b"")
            rest = _prepend(first, chunks)
            if first.startswith(GZIP_MAGIC):
                yield from _gunzip(rest, limit, operation)
            elif first.startswith(ZIP_MAGIC):
                yield from _unzip(rest, limit, operation)
            elif first:
                yield from rest
        finally:
            response.close()
            deadline.close()

    def _chunks(
        self,
        response: requests.Response,
        chunk_size: int,
        operation: str,
        deadline: transport.Deadline,
    ) -> Iterator[bytes]:
        """The body (Content-Encoding undone by urllib3 in bounded steps), at most
        ``max_result_bytes``, failures as taxonomy errors."""
        stream = response.iter_content(chunk_size)
        total = 0
        while True:
            error: Exception | None = None
            chunk = b""
            try:
                chunk = next(stream)
            except StopIteration:
                break
            except requests.RequestException as exc:
                error = self._transport_error(exc, operation, deadline)
            if error is not None:
                raise error
            total += len(chunk)
            if total > self.max_result_bytes:
                raise _too_large(operation, self.max_result_bytes)
            if chunk:
                yield chunk
        if deadline.passed:  # a body delimited by the connection's close, cut by the watchdog
            raise self._transport_error(transport.DeadlinePassed(), operation, deadline)

    def _download_to(self, open_stream: Callable[[], Iterator[bytes]], sink: IO[bytes]) -> int:
        seekable = _seekable(sink)
        start = sink.tell() if seekable else 0
        attempts = 3 if seekable else 1
        for attempt in range(1, attempts + 1):
            chunks = open_stream()
            written = 0
            try:
                for chunk in chunks:
                    sink.write(chunk)
                    written += len(chunk)
                return written
            except ServiceUnavailableError as exc:
                # Out of time is not a broken connection: starting over would take as long.
                if attempt >= attempts or isinstance(exc, DeadlineExceededError):
                    raise
                logger.warning(
                    "Download interrupted after %d bytes (%s); starting over", written, exc
                )
                sink.seek(start)
                sink.truncate()
                self._sleep(self.backoff_factor * attempt + random.uniform(0, self.backoff_factor))
        raise AssertionError("unreachable")  # pragma: no cover


def _origin_id(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _input_format(value: str) -> str:
    fmt = (value or "").strip().lower()
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"input format must be one of {', '.join(INPUT_FORMATS)}, got {value!r}")
    return fmt


def _retried(exc: BaseException) -> bool:
    return "max retries exceeded" in str(exc).lower()


def _fix_output_spelling(url: str) -> str:
    parts = urlsplit(url)
    segments = [
        "output" if segment.lower() == "ouput" else segment for segment in parts.path.split("/")
    ]
    return urlunsplit(parts._replace(path="/".join(segments)))


def _seekable(sink: Any) -> bool:
    try:
        return bool(sink.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _too_large(operation: str, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{operation}: the result set is larger than {limit} bytes (max_result_bytes); "
        "refusing to read more"
    )


def _gunzip(chunks: Iterator[bytes], limit: int, operation: str) -> Iterator[bytes]:
    """Raw gzip bodies (possibly several members), decompressed as they stream, at most
    ``GUNZIP_PIECE`` bytes per step (a 1 MB piece of a bomb would otherwise become 1 GB at
    once) and ``limit`` bytes in all."""
    decompressor = zlib.decompressobj(31)
    total = 0
    try:
        for chunk in chunks:
            data = chunk
            while True:
                if decompressor.eof and data:
                    decompressor = zlib.decompressobj(31)  # the next member
                out = decompressor.decompress(data, GUNZIP_PIECE)
                total += len(out)
                if total > limit:
                    raise _too_large(operation, limit)
                if out:
                    yield out
                data = (
                    decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
                )
                if not data and len(out) < GUNZIP_PIECE:
                    break  # this chunk is used up and no output is pending
    except zlib.error as exc:
        raise ProtocolError(
            f"the result body looked gzipped but is not valid gzip ({exc})"
        ) from exc
    if not decompressor.eof:
        raise ProtocolError("the gzipped result body is truncated")


def _unzip(chunks: Iterator[bytes], limit: int, operation: str) -> Iterator[bytes]:
    """A zip archive's first file (the toolkit's reading), via a spool since zip needs seeking;
    the archive is at most ``limit`` bytes (``_chunks``) and so is the file, read in pieces."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            archive = zipfile.ZipFile(spool)
        except zipfile.BadZipFile as exc:
            raise ProtocolError(
                f"the result body looked like a zip archive but is not one ({exc})"
            ) from exc
        with archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            if not entries:
                return
            total = 0
            with archive.open(entries[0]) as member:
                for piece in iter(lambda: member.read(GUNZIP_PIECE), b""):
                    total += len(piece)
                    if total > limit:
                        raise _too_large(operation, limit)
                    yield piece
