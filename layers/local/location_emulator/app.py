"""The emulator as a WSGI application: routing, authentication, rate limit, faults, handlers.

Each call goes through the same steps, in the order the service would apply them: route ->
authenticate (403) -> injected throttle, then the rate limit (429) -> injected delay and 500 ->
validate the body (400) -> geocode (200). Request URLs are never logged: they carry the key.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from emulator_support.limits import SlidingWindowLimiter
from emulator_support.wsgi import AnsweredError, JsonEmulatorApp, Response, read_body
from offline_geocoder import Geocoder

from . import auth, validation
from .config import LocationEmulatorConfig
from .faults import FaultInjector
from .operations import OperationResult, PlacesService
from .state import LocationEmulatorState
from .validation import RequestValidationError

ROUTES = {
    ("POST", "/v2/geocode"): "Geocode",
    ("POST", "/v2/reverse-geocode"): "ReverseGeocode",
}


class ServiceError(AnsweredError):
    """Answered as ``status`` with ``x-amzn-ErrorType: error_type`` and ``{"message"}``."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type

    def response(self) -> Response:
        return _error(self.status, self.error_type, {"message": str(self)})


class LocationEmulatorApp(JsonEmulatorApp):
    """The WSGI callable. One instance = one independent service (keys, quota, faults)."""

    REQUEST_ID_HEADER = "x-amzn-RequestId"
    state: LocationEmulatorState
    faults: FaultInjector

    def __init__(
        self, config: LocationEmulatorConfig | None = None, *, geocoder: Geocoder | None = None
    ) -> None:
        self.config = config or LocationEmulatorConfig()
        limiter = SlidingWindowLimiter.per_second(
            self.config.rate_limit, history=self.config.timestamp_history
        )
        super().__init__(
            LocationEmulatorState(limiter), FaultInjector(self.config.faults, self.config.seed)
        )
        self.geocoder = geocoder or Geocoder(min_population=self.config.min_city_population)
        self.service = PlacesService(self.geocoder)

    def _internal_error(self) -> Response:
        return ServiceError(
            500, "InternalServerException", "An internal error occurred."
        ).response()

    def _respond(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = (environ.get("PATH_INFO") or "/").rstrip("/")
        operation = ROUTES.get((method, path))
        if operation is None:
            raise ServiceError(
                404, "UnknownOperationException", f"No operation for {method} {path or '/'}."
            )
        self.state.count_request(operation)
        raw = _read_body(environ, self.config.max_body_bytes)

        failure = auth.authenticate(
            environ.get("HTTP_AUTHORIZATION"), _key_param(environ), self.config.api_keys
        )
        if failure is not None:
            raise ServiceError(failure.status, failure.error_type, failure.message)

        decision = self.faults.for_call()
        if decision.throttle:
            # Injected: refused whatever the rate, so it does not use up the window either.
            self.state.count_fault("throttle")
            raise ServiceError(429, "ThrottlingException", "Rate exceeded")
        if not self.state.admit():
            raise ServiceError(429, "ThrottlingException", "Rate exceeded")
        if decision.delay_seconds:
            self.state.count_fault("delay")
            time.sleep(decision.delay_seconds)
        if decision.error:
            self.state.count_fault("error")
            raise ServiceError(500, "InternalServerException", "An internal error occurred.")

        try:
            body = validation.parse_body(raw)
            validation.validate(operation, body)
            result = self._operation(operation, body)
        except RequestValidationError as error:
            return _error(400, "ValidationException", error.body())
        return Response(200, result.body, [("x-amz-geo-pricing-bucket", result.pricing_bucket)])

    def _operation(self, operation: str, body: dict[str, Any]) -> OperationResult:
        if operation == "Geocode":
            return self.service.geocode(body)
        return self.service.reverse_geocode(body)


def _error(status: int, error_type: str, body: dict[str, Any]) -> Response:
    return Response(status, body, [("x-amzn-ErrorType", error_type)])


def _key_param(environ: dict[str, Any]) -> str | None:
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get("key")
    return values[0] if values else None


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    return read_body(
        environ,
        limit,
        bad_length=lambda: ServiceError(400, "SerializationException", "Invalid Content-Length."),
        too_large=lambda: ServiceError(
            413, "RequestEntityTooLargeException", "Request body too large."
        ),
    )
