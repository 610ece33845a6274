"""The emulator as a WSGI application: routing, authentication, rate limit, faults, handlers.

Each call goes through the same steps: route (404) -> authenticate (401) -> injected throttle,
then the rate limit (429) -> api-version (400) -> injected delay, 5xx and 408 -> the envelope
(400) -> ``timeout_over_items`` (408) -> the items (200, item errors inside). Request URLs are
never logged: they may carry the key.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from emulator_support.limits import SlidingWindowLimiter
from emulator_support.wsgi import AnsweredError, JsonEmulatorApp, Response, read_body
from offline_geocoder import Geocoder

from . import auth, validation
from .config import AzureMapsEmulatorConfig
from .faults import FaultInjector
from .operations import GEOCODE, REVERSE, BatchService
from .state import AzureMapsEmulatorState
from .validation import RequestValidationError

ROUTES = {
    ("POST", "/geocode:batch"): GEOCODE,
    ("POST", "/reverseGeocode:batch"): REVERSE,
}
# ErrorResponse codes (also sent as x-ms-error-code). Unverified: see README "Decisions".
_CODES = {
    404: "NotFound",
    408: "Timeout",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_MESSAGES = {
    408: "The request took longer to finish than the maximum amount of time defined in the api.",
    500: "An internal error occurred.",
    502: "The service received an invalid response upstream.",
    503: "The service is temporarily unavailable.",
    504: "The service timed out upstream.",
}
# The 401 body seen from the service (reference §5.1, [I3]).
UNAUTHORIZED_BODY = {
    "error": {
        "code": "Unauthorized",
        "message": "Access denied, please inspect WWW-Authenticate header.",
        "target": None,
        "details": [],
    }
}


class ServiceError(AnsweredError):
    """Answered as ``status`` with ``{"error": {"code", "message"}}`` and ``x-ms-error-code``."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message or _MESSAGES.get(status, "The request failed."))
        self.status = status
        self.code = code or _CODES.get(status, "Error")
        self.headers = headers or []

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": str(self)}}
        return Response(self.status, body, [("x-ms-error-code", self.code), *self.headers])


class AzureMapsEmulatorApp(JsonEmulatorApp):
    """The WSGI callable. One instance = one independent service (keys, quota, faults)."""

    CONTENT_TYPE = "application/json; charset=utf-8"
    REQUEST_ID_HEADER = "x-ms-request-id"
    state: AzureMapsEmulatorState
    faults: FaultInjector

    def __init__(
        self, config: AzureMapsEmulatorConfig | None = None, *, geocoder: Geocoder | None = None
    ) -> None:
        self.config = config or AzureMapsEmulatorConfig()
        limiter = SlidingWindowLimiter.per_second(
            self.config.rate_limit, history=self.config.timestamp_history
        )
        super().__init__(
            AzureMapsEmulatorState(limiter), FaultInjector(self.config.faults, self.config.seed)
        )
        self.geocoder = geocoder or Geocoder(min_population=self.config.min_city_population)
        self.service = BatchService(self.geocoder)

    def _internal_error(self) -> Response:
        return ServiceError(500).response()

    def _respond(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = (environ.get("PATH_INFO") or "/").rstrip("/")
        operation = ROUTES.get((method, path))
        if operation is None:
            raise ServiceError(404, f"No operation for {method} {path or '/'}.")
        self.state.count_request(operation)
        raw = _read_body(environ, self.config.max_body_bytes)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)

        failure = auth.authenticate(
            environ.get("HTTP_SUBSCRIPTION_KEY"),
            (query.get("subscription-key") or [None])[0],
            environ.get("HTTP_AUTHORIZATION"),
            self.config.keys,
        )
        if failure is not None:
            return Response(
                failure.status,
                UNAUTHORIZED_BODY,
                [
                    ("x-ms-error-code", "Unauthorized"),
                    ("WWW-Authenticate", failure.www_authenticate),
                ],
            )

        decision = self.faults.for_call()
        if decision.throttle:
            # Injected: refused whatever the rate, so it does not use up the window either.
            self.state.count_fault("throttle")
            raise self._too_many_requests()
        if not self.state.admit():
            raise self._too_many_requests()
        try:
            api_version = validation.check_api_version(
                query.get("api-version"), self.config.api_versions
            )
        except RequestValidationError as error:
            raise ServiceError(400, str(error), code=error.code) from None

        if decision.delay_seconds:
            self.state.count_fault("delay")
            if decision.delay_seconds > self.config.request_timeout_seconds:
                # A batch slower than the service's limit ends in 408 at the limit.
                time.sleep(self.config.request_timeout_seconds)
                self.state.count_fault("timeout")
                raise ServiceError(408)
            time.sleep(decision.delay_seconds)
        if decision.error_status is not None:
            self.state.count_fault("error")
            raise ServiceError(decision.error_status)
        if decision.timeout:
            self.state.count_fault("timeout")
            raise ServiceError(408)

        try:
            items = validation.batch_items(raw, self.config.max_batch_items)
        except RequestValidationError as error:
            raise ServiceError(400, str(error), code=error.code) from None
        limit = self.faults.faults.timeout_over_items
        if limit is not None and len(items) > limit:
            self.state.count_fault("timeout_over_items")
            raise ServiceError(408)

        result = self.service.run(
            operation, items, api_version, environ.get("HTTP_ACCEPT_LANGUAGE")
        )
        self.state.count_items(operation, result.total, result.failed)
        return Response(200, result.body)

    def _too_many_requests(self) -> ServiceError:
        seconds = self.config.retry_after_seconds
        if seconds is None:
            return ServiceError(429, "Rate limit is exceeded.")
        return ServiceError(
            429,
            f"Rate limit is exceeded. Try again in {seconds} seconds.",
            headers=[("Retry-After", str(seconds))],
        )


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    return read_body(
        environ,
        limit,
        bad_length=lambda: ServiceError(400, "Invalid Content-Length.", code="BadRequest"),
        too_large=lambda: ServiceError(413, "The request body is too large."),
    )
