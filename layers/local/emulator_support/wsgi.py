"""``JsonEmulatorApp``: the WSGI side every JSON emulator shares.

A subclass routes and answers one request (``_respond``) and says what its service answers to a
bug (``_internal_error``); this base turns that into JSON bytes with a fresh request id, counts
the answer, and holds the knobs tests turn (faults, rate limit). Request URLs are never logged
here: they may carry the key.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from offline_geocoder import Geocoder

from .counters import RequestCounters
from .faults import SeededFaultInjector
from .limits import window_capacity

StartResponse = Callable[..., Any]

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)


class AnsweredError(Exception):
    """An error the service answers in its own shape; each provider's ``ServiceError`` is one."""

    def response(self) -> Response:
        raise NotImplementedError


class JsonEmulatorApp:
    """The WSGI callable. One instance = one independent service (keys, quota, faults).

    Subclasses set ``CONTENT_TYPE`` and ``REQUEST_ID_HEADER`` and implement ``_respond`` and
    ``_internal_error``.
    """

    CONTENT_TYPE: ClassVar[str] = "application/json"
    REQUEST_ID_HEADER: ClassVar[str]
    geocoder: Geocoder  # set by each provider's app; its server preloads the place data

    def __init__(self, state: RequestCounters, faults: SeededFaultInjector[Any]) -> None:
        self.state = state
        self.faults = faults
        # The subclass's module, so each emulator's records keep its own logger name.
        self._logger = logging.getLogger(type(self).__module__)

    @property
    def stats(self) -> dict[str, Any]:
        return self.state.snapshot()

    def set_faults(self, faults: Any) -> None:
        self.faults.replace(faults)

    def set_rate_limit(self, rate_limit: float | None) -> None:
        """Requests per sliding second from now on; 0 or None = unlimited."""
        self.state.limiter.set_capacity(window_capacity(rate_limit))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self._respond(environ)
        except AnsweredError as error:
            response = error.response()
        except Exception:  # noqa: BLE001 - a bug must still answer the service's 500 shape
            self._logger.exception("unhandled error in the emulator")
            response = self._internal_error()
        self.state.count_answer(response.status)
        payload = json.dumps(response.body, separators=(",", ":")).encode("utf-8")
        headers = [
            ("Content-Type", self.CONTENT_TYPE),
            ("Content-Length", str(len(payload))),
            (self.REQUEST_ID_HEADER, str(uuid.uuid4())),
            *response.headers,
        ]
        start_response(f"{response.status} {REASONS.get(response.status, 'Error')}", headers)
        return [payload]

    def _respond(self, environ: dict[str, Any]) -> Response:
        raise NotImplementedError

    def _internal_error(self) -> Response:
        raise NotImplementedError


def read_body(
    environ: dict[str, Any],
    limit: int,
    *,
    bad_length: Callable[[], Exception],
    too_large: Callable[[], Exception],
) -> bytes:
    """The request body; raises ``bad_length()`` / ``too_large()`` in the provider's shape."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise bad_length() from None
    if length > limit:
        raise too_large()
    return environ["wsgi.input"].read(length) if length > 0 else b""
