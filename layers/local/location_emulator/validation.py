"""Server-side request checks, driven by botocore's own model of ``geo-places``.

botocore checks required members, types and minimums before sending, but not maximums, enums
or patterns (reference §12), so the emulator checks every constraint of the input shape itself:
a request the real service would refuse is refused here too. Reading the constraints from the
installed model means emulator and model cannot drift. Values are never echoed in messages:
most members are sensitive (addresses, the API key).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from botocore.model import ListShape, OperationModel, ServiceModel, Shape, StructureShape

SERVICE = "geo-places"
OPERATIONS = ("Geocode", "ReverseGeocode")

# Reasons of the modelled ValidationException.
UNKNOWN_FIELD, MISSING, CANNOT_PARSE, FIELD_VALIDATION_FAILED = (
    "UnknownField",
    "Missing",
    "CannotParse",
    "FieldValidationFailed",
)
_REASON_ORDER = (CANNOT_PARSE, UNKNOWN_FIELD, MISSING, FIELD_VALIDATION_FAILED)

# Positions are [longitude, latitude]; the model only says "two doubles".
_POSITION_MEMBERS = ("QueryPosition", "BiasPosition")


@dataclass(frozen=True)
class FieldError:
    name: str  # path of the member, e.g. "QueryComponents.Locality" or "Filter.IncludeCountries[0]"
    message: str
    reason: str = FIELD_VALIDATION_FAILED


class RequestValidationError(Exception):
    """Answered as 400 ValidationException with ``reason`` and ``fieldList``."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        self.reason = min((e.reason for e in errors), key=_REASON_ORDER.index)
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        details = "; ".join(f"{e.name}: {e.message}" for e in errors)
        super().__init__(f"{count} validation {noun} detected: {details}")

    def body(self) -> dict[str, Any]:
        return {
            "message": str(self),
            "reason": self.reason,
            "fieldList": [{"name": e.name, "message": e.message} for e in self.errors],
        }


@functools.lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    import botocore.session  # botocore ships with boto3; the model is read once

    return botocore.session.get_session().get_service_model(SERVICE)


def operation_model(operation: str) -> OperationModel:
    return service_model().operation_model(operation)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body; an empty body is ``{}``, as botocore sends it."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RequestValidationError(
            [FieldError("body", "The request body is not valid JSON.", CANNOT_PARSE)]
        ) from None
    if not isinstance(body, dict):
        raise RequestValidationError(
            [FieldError("body", "The request body must be a JSON object.", CANNOT_PARSE)]
        )
    return body


def validate(operation: str, body: dict[str, Any]) -> None:
    """Raise ``RequestValidationError`` listing every problem of ``body`` for ``operation``."""
    shape = operation_model(operation).input_shape
    errors: list[FieldError] = []
    _check_structure(shape, body, "", errors, body_only=True)
    for name in _POSITION_MEMBERS:
        position = body.get(name)
        if name in shape.members and _is_pair_of_numbers(position):
            lon, lat = position
            if not -180.0 <= lon <= 180.0:
                errors.append(FieldError(name, "Longitude must be between -180 and 180."))
            if not -90.0 <= lat <= 90.0:
                errors.append(FieldError(name, "Latitude must be between -90 and 90."))
    # (An empty QueryText is a length error above, not a missing query.)
    if operation == "Geocode" and body.get("QueryText") is None and not body.get("QueryComponents"):
        errors.append(
            FieldError("QueryText", "QueryText or QueryComponents must be provided.", MISSING)
        )
    if errors:
        raise RequestValidationError(errors)


def shape_errors(shape: Shape, value: Any) -> list[FieldError]:
    """Every constraint of ``shape`` that ``value`` breaks (any shape: tests check responses)."""
    errors: list[FieldError] = []
    _check(shape, value, "", errors)
    return errors


# -- walking the shapes ----------------------------------------------------------------------------


def _check(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, errors)  # type: ignore[arg-type]
    elif kind == "list":
        _check_list(shape, value, path, errors)  # type: ignore[arg-type]
    elif kind == "string":
        _check_string(shape, value, path, errors)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(FieldError(path, "Member must be an integer.", CANNOT_PARSE))
        else:
            _check_range(shape, value, path, errors)
    elif kind in ("double", "float"):
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            errors.append(FieldError(path, "Member must be a number.", CANNOT_PARSE))
        else:
            _check_range(shape, value, path, errors)
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(FieldError(path, "Member must be a boolean.", CANNOT_PARSE))


def _check_structure(
    shape: StructureShape,
    value: Any,
    path: str,
    errors: list[FieldError],
    *,
    body_only: bool = False,
) -> None:
    if not isinstance(value, dict):
        errors.append(FieldError(path, "Member must be an object.", CANNOT_PARSE))
        return
    # Members carried elsewhere (the API key travels as ?key=) are unknown in the body.
    members = {
        name: member
        for name, member in shape.members.items()
        if not (body_only and member.serialization.get("location"))
    }
    for name in value:
        if name not in members:
            errors.append(FieldError(_join(path, name), "Unknown member.", UNKNOWN_FIELD))
    for name in shape.required_members:
        if name in members and value.get(name) is None:
            errors.append(FieldError(_join(path, name), "Member must not be null.", MISSING))
    for name, member in members.items():
        if value.get(name) is not None:
            _check(member, value[name], _join(path, name), errors)


def _check_list(shape: ListShape, value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, list):
        errors.append(FieldError(path, "Member must be a list.", CANNOT_PARSE))
        return
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        errors.append(FieldError(path, f"Member must have at least {low} items."))
    if high is not None and len(value) > high:
        errors.append(FieldError(path, f"Member must have at most {high} items."))
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if item is None:
            errors.append(FieldError(item_path, "Member must not be null.", MISSING))
        else:
            _check(shape.member, item, item_path, errors)


def _check_string(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, str):
        errors.append(FieldError(path, "Member must be a string.", CANNOT_PARSE))
        return
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if low is not None and len(value) < low:
        errors.append(FieldError(path, f"Member must have length at least {low}."))
    if high is not None and len(value) > high:
        errors.append(FieldError(path, f"Member must have length at most {high}."))
    enum = shape.enum  # type: ignore[attr-defined]
    if enum and value not in enum:
        errors.append(FieldError(path, f"Member must be one of: {', '.join(enum)}."))
    pattern = meta.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        errors.append(FieldError(path, f"Member must satisfy the pattern {pattern}."))


def _check_range(shape: Shape, value: float, path: str, errors: list[FieldError]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        errors.append(FieldError(path, f"Member must be at least {low}."))
    if high is not None and value > high:
        errors.append(FieldError(path, f"Member must be at most {high}."))


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_pair_of_numbers(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )
