"""Request checks, parsed once into typed items: what fails the whole request (a 400
``ErrorResponse``) and what fails one batch item (an ``{"error"}`` item inside a 200).

The spec states few constraints and no error codes beyond the examples (reference §5, §8.5,
§11), so the messages here follow the examples where they exist (``Conflicting Parameters``,
the coordinates message) and are the emulator's own elsewhere (README "Decisions"). Messages
name fields, and echo only coordinates and api-versions, never addresses or keys.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

# Structured forward fields, in the spec's order; none of them may accompany ``query``.
STRUCTURED_FIELDS = (
    "addressLine",
    "countryRegion",
    "adminDistrict",
    "adminDistrict2",
    "adminDistrict3",
    "locality",
    "postalCode",
)
FORWARD_FIELDS = frozenset(
    {"optionalId", "query", "top", "bbox", "coordinates", "view", *STRUCTURED_FIELDS}
)
REVERSE_FIELDS = frozenset({"optionalId", "coordinates", "resultTypes", "view"})
# The documented reverse result types, in the spec's order.
RESULT_TYPES = (
    "Address",
    "Neighborhood",
    "PopulatedPlace",
    "Postcode1",
    "AdminDivision1",
    "AdminDivision2",
    "CountryRegion",
)
TOP_MIN, TOP_MAX, TOP_DEFAULT = 1, 20, 5

CONFLICT_CODE = "Conflicting Parameters"
CONFLICT_MESSAGE = (
    "When 'query' is present, only the following parameters are valid: "
    "'bbox, location, view, top'. '{field}' was passed"
)
_VIEW = re.compile(r"auto|[A-Za-z]{2}", re.IGNORECASE)


class RequestValidationError(Exception):
    """The whole request is refused: 400 with ``{"error": {"code", "message"}}``."""

    code = "BadRequest"


class ItemError(Exception):
    """One batch item is refused: ``{"error": {"code", "message"}}`` in its place."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": str(self)}}


@dataclass(frozen=True)
class ForwardItem:
    query: str | None = None
    # The structured fields given (blank ones dropped), by their Azure names.
    fields: dict[str, str] = field(default_factory=dict)
    top: int = TOP_DEFAULT
    bbox: tuple[float, float, float, float] | None = None  # lon1, lat1, lon2, lat2
    coordinates: tuple[float, float] | None = None  # lon, lat
    view: str | None = None


@dataclass(frozen=True)
class ReverseItem:
    coordinates: tuple[float, float]  # lon, lat
    result_types: tuple[str, ...] = ()  # empty = every type


# -- the whole request -----------------------------------------------------------------------------


def check_api_version(values: list[str] | None, accepted: tuple[str, ...]) -> str:
    if not values or not values[0].strip():
        raise RequestValidationError("The 'api-version' query parameter is required.")
    version = values[0].strip()
    if version not in accepted:
        shown = version if len(version) <= 40 else version[:40] + "..."
        raise RequestValidationError(
            f"The api-version '{shown}' is not supported. Supported versions: "
            f"{', '.join(accepted)}."
        )
    return version


def batch_items(raw: bytes, max_items: int) -> list[Any]:
    """The ``batchItems`` of a request body: 1 to ``max_items`` of them."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RequestValidationError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise RequestValidationError(
            'The request body must be a JSON object: {"batchItems": [...]}.'
        )
    items = body.get("batchItems")
    if not isinstance(items, list) or not items:
        raise RequestValidationError("'batchItems' must be a list of at least 1 item.")
    if len(items) > max_items:
        raise RequestValidationError(
            f"'batchItems' holds {len(items)} items; a batch holds at most {max_items}."
        )
    return items


# -- one item --------------------------------------------------------------------------------------


def forward_item(item: Any, api_version: str) -> ForwardItem:
    body = _object(item, FORWARD_FIELDS, api_version)
    if body.get("query") is not None:
        for name in body:  # the first offending field, in the order sent
            if name in STRUCTURED_FIELDS and body[name] is not None:
                raise ItemError(CONFLICT_CODE, CONFLICT_MESSAGE.format(field=name))
    strings = {
        name: _string(body, name, api_version) for name in ("query", "view", *STRUCTURED_FIELDS)
    }
    query = _blank(strings["query"])
    fields = {name: strings[name].strip() for name in STRUCTURED_FIELDS if _blank(strings[name])}
    if query is None and not fields:
        raise ItemError(
            bad_request_code(api_version),
            "Either 'query' or at least one of "
            + ", ".join(f"'{name}'" for name in STRUCTURED_FIELDS)
            + " must be given.",
        )
    top = body.get("top", TOP_DEFAULT)
    if not _integer(top) or not TOP_MIN <= top <= TOP_MAX:
        raise ItemError(
            bad_request_code(api_version),
            f"'top' must be an integer between {TOP_MIN} and {TOP_MAX}.",
        )
    return ForwardItem(
        query=query,
        fields=fields,
        top=top,
        bbox=_bbox(body.get("bbox"), api_version),
        coordinates=_coordinates(body.get("coordinates"), api_version),
        view=_view(strings["view"], api_version),
    )


def reverse_item(item: Any, api_version: str) -> ReverseItem:
    body = _object(item, REVERSE_FIELDS, api_version)
    if body.get("coordinates") is None:
        raise ItemError(
            bad_request_code(api_version),
            "'coordinates' is required: [longitude, latitude].",
        )
    coordinates = _coordinates(body["coordinates"], api_version)
    assert coordinates is not None
    return ReverseItem(
        coordinates=coordinates,
        result_types=_result_types(body.get("resultTypes"), api_version),
    )


def bad_request_code(api_version: str) -> str:
    """The item error code of the examples: ``Bad Request`` from 2026-01-01, ``400 Bad Request``
    before (reference §5.2)."""
    return "Bad Request" if api_version >= "2026-01-01" else "400 Bad Request"


# -- helpers ---------------------------------------------------------------------------------------


def _object(item: Any, known: frozenset[str], api_version: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ItemError(bad_request_code(api_version), "A batch item must be a JSON object.")
    for name in item:
        if name not in known:
            raise ItemError(
                bad_request_code(api_version),
                f"'{name[:60]}' is not a valid parameter of this batch item.",
            )
    return item


def _string(body: dict[str, Any], name: str, api_version: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ItemError(bad_request_code(api_version), f"'{name}' must be a string.")
    return value


def _coordinates(value: Any, api_version: str) -> tuple[float, float] | None:
    if value is None:
        return None
    code = bad_request_code(api_version)
    if not _numbers(value, 2):
        raise ItemError(
            code,
            "The provided coordinates in query are invalid, out of range, or not in the "
            "expected format",
        )
    lon, lat = value
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        if api_version < "2025-01-01":
            message = (
                "The provided coordinates in query are invalid, out of range, or not in the "
                "expected format"
            )
        else:
            # The service prints the pair the other way round (reference AZ-Q10).
            message = (
                f"The provided coordinates ({_text(lat)},{_text(lon)}) in coordinates field are "
                "invalid or out of range"
            )
        raise ItemError(code, message)
    return float(lon), float(lat)


def _bbox(value: Any, api_version: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not _numbers(value, 4):
        raise ItemError(
            bad_request_code(api_version),
            "'bbox' must be 4 numbers: [lon1, lat1, lon2, lat2].",
        )
    lon1, lat1, lon2, lat2 = (float(v) for v in value)
    if not all(-180.0 <= v <= 180.0 for v in (lon1, lon2)) or not all(
        -90.0 <= v <= 90.0 for v in (lat1, lat2)
    ):
        raise ItemError(bad_request_code(api_version), "'bbox' is out of range.")
    return lon1, lat1, lon2, lat2


def _view(value: str | None, api_version: str) -> str | None:
    if value is not None and not _VIEW.fullmatch(value):
        raise ItemError(
            bad_request_code(api_version),
            "'view' must be 'auto' or an ISO 3166-1 alpha-2 country code.",
        )
    return value


def _result_types(value: Any, api_version: str) -> tuple[str, ...]:
    if value is None:
        return ()
    known = {name.casefold(): name for name in RESULT_TYPES}
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.casefold() in known for v in value
    ):
        raise ItemError(
            bad_request_code(api_version),
            f"'resultTypes' must be a list of: {', '.join(RESULT_TYPES)}.",
        )
    return tuple(dict.fromkeys(known[v.casefold()] for v in value))


def _numbers(value: Any, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blank(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _text(number: float) -> str:
    return repr(number) if isinstance(number, float) else str(number)
