"""The 41 text columns of Data Schema v2.0 and the mapping between a row and a ``GeocodeEntity``.

Text files name their columns in a header, in any order and any subset, so everything here
works by canonical column NAME, never by position (the two official headers even disagree on
the BoundingBox order, Q22).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from geocode_dataflow.schema.model import (
    Address,
    BoundingBox,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Point,
    QueryParseValue,
    ReverseGeocodeRequest,
)

ID = "Id"
CULTURE = "GeocodeRequest/Culture"
QUERY = "GeocodeRequest/Query"
MIN_CONFIDENCE = "GeocodeRequest/ConfidenceFilter/MinimumConfidence"
STRICT_MATCH = "GeocodeRequest/StrictMatch"
ENTITY_TYPES = "ReverseGeocodeRequest/IncludeEntityTypes"
LATITUDE = "ReverseGeocodeRequest/Location/Latitude"
LONGITUDE = "ReverseGeocodeRequest/Location/Longitude"
CONFIDENCE = "GeocodeResponse/Confidence"
NAME = "GeocodeResponse/Name"
ENTITY_TYPE = "GeocodeResponse/EntityType"
MATCH_CODES = "GeocodeResponse/MatchCodes"
POINT_LAT = "GeocodeResponse/Point/Latitude"
POINT_LON = "GeocodeResponse/Point/Longitude"
BBOX_SOUTH = "GeocodeResponse/BoundingBox/SouthLatitude"
BBOX_WEST = "GeocodeResponse/BoundingBox/WestLongitude"
BBOX_NORTH = "GeocodeResponse/BoundingBox/NorthLatitude"
BBOX_EAST = "GeocodeResponse/BoundingBox/EastLongitude"
QUERY_PARSE_VALUES = "GeocodeResponse/QueryParseValues"
GEOCODE_POINTS = "GeocodeResponse/GeocodePoints"
STATUS_CODE = "StatusCode"
FAULT_REASON = "FaultReason"
TRACE_ID = "TraceId"

# Address attribute (XML name) -> model field, in the toolkit's serializer order.
ADDRESS_FIELDS: dict[str, str] = {
    "AddressLine": "address_line",
    "AdminDistrict": "admin_district",
    "CountryRegion": "country_region",
    "AdminDistrict2": "admin_district2",
    "FormattedAddress": "formatted_address",
    "Locality": "locality",
    "PostalCode": "postal_code",
    "PostalTown": "postal_town",
    "Landmark": "landmark",
    "Neighborhood": "neighborhood",
}
REQUEST_ADDRESS_PARTS = (
    "AddressLine", "AdminDistrict", "CountryRegion", "AdminDistrict2",
    "FormattedAddress", "Locality", "PostalCode", "PostalTown",
)  # fmt: skip
RESPONSE_ADDRESS_PARTS = (*REQUEST_ADDRESS_PARTS, "Neighborhood", "Landmark")

TEXT_COLUMNS: list[str] = [
    ID,
    CULTURE,
    QUERY,
    *(f"GeocodeRequest/Address/{part}" for part in REQUEST_ADDRESS_PARTS),
    MIN_CONFIDENCE,
    STRICT_MATCH,
    ENTITY_TYPES,
    LATITUDE,
    LONGITUDE,
    *(f"GeocodeResponse/Address/{part}" for part in RESPONSE_ADDRESS_PARTS),
    CONFIDENCE,
    NAME,
    ENTITY_TYPE,
    MATCH_CODES,
    POINT_LAT,
    POINT_LON,
    BBOX_SOUTH,
    BBOX_WEST,
    BBOX_NORTH,
    BBOX_EAST,
    QUERY_PARSE_VALUES,
    GEOCODE_POINTS,
    STATUS_CODE,
    FAULT_REASON,
    TRACE_ID,
]
# What the service writes back in a text result set: only the columns the upload's header has,
# so a request-only header is sent with these added.
RESPONSE_TEXT_COLUMNS: tuple[str, ...] = tuple(
    c
    for c in TEXT_COLUMNS
    if c.startswith("GeocodeResponse/") or c in (STATUS_CODE, FAULT_REASON, TRACE_ID)
)
_KNOWN = frozenset(TEXT_COLUMNS)
_BY_FOLDED = {name.casefold(): name for name in TEXT_COLUMNS}

# Columns that make a row a forward / reverse request. Culture and MinimumConfidence sit under
# GeocodeRequest/ in the header, yet the official samples use them for reverse rows too.
# Cells hold only non-empty values, so "has any of these" is a set-disjointness test.
_REQUEST_ADDRESS_COLUMNS = frozenset(f"GeocodeRequest/Address/{p}" for p in REQUEST_ADDRESS_PARTS)
_RESPONSE_ADDRESS_COLUMNS = frozenset(
    f"GeocodeResponse/Address/{p}" for p in RESPONSE_ADDRESS_PARTS
)
_FORWARD_ONLY = frozenset({QUERY, STRICT_MATCH}) | _REQUEST_ADDRESS_COLUMNS
_REVERSE_ONLY = frozenset({ENTITY_TYPES, LATITUDE, LONGITUDE})
_RESPONSE_COLUMNS = frozenset(name for name in TEXT_COLUMNS if name.startswith("GeocodeResponse/"))
# The same sets for the validator's screen (schema/screen.py).
FORMATTED_ADDRESS = "GeocodeRequest/Address/FormattedAddress"
REQUEST_ADDRESS_COLUMN_SET = _REQUEST_ADDRESS_COLUMNS
FORWARD_ONLY_COLUMNS = _FORWARD_ONLY
REVERSE_ONLY_COLUMNS = _REVERSE_ONLY
RESPONSE_COLUMN_SET = _RESPONSE_COLUMNS

# Point key order of real service output [T-jtirila].
_POINT_KEYS = (
    ("Longitude", "longitude"),
    ("Latitude", "latitude"),
    ("UsageTypes", "usage_types"),
    ("Type", "type"),
    ("CalculationMethod", "calculation_method"),
)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def is_known_column(name: str) -> bool:
    return name in _KNOWN


def unknown_column_hint(name: str) -> str:
    """A short suggestion for a header token that is not a v2.0 column name."""
    exact = _BY_FOLDED.get(name.casefold())
    if exact:
        return f" (column names are case-sensitive: did you mean {exact!r}?)"
    if name.startswith("GeocodeEntity/") or "/@" in name:
        return " (that is a Data Schema 1.0 name; v2.0 names look like 'GeocodeRequest/Query')"
    return ""


def parse_bool(value: str) -> bool:
    """xs:boolean as the service reads it: true/false/1/0, any case."""
    folded = value.strip().lower()
    if folded in ("true", "1"):
        return True
    if folded in ("false", "0"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true, false, 1 or 0)")


def format_bool(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    return text or None


def _json_array(cell: str, what: str) -> list[dict[str, object]]:
    try:
        # parse_float/int=str keep numbers exactly as written if a producer did not quote them.
        data = json.loads(cell, parse_float=str, parse_int=str)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    except RecursionError as exc:  # pathologically nested brackets
        raise ValueError(f"{what} is not valid JSON: nested too deeply") from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{what} must be a JSON array of objects")
    # A \uD800-style escape without its pair decodes to a lone surrogate: not a character,
    # so no UTF-8 (nor XML) can carry it. Only an escape can produce one: the cell itself is
    # valid UTF-8 already.
    if "\\u" in cell and any(
        isinstance(value, str) and _SURROGATE.search(value)
        for item in data
        for value in item.values()
    ):
        raise ValueError(
            f"{what} holds a \\u escape of a lone surrogate (half of a UTF-16 pair, "
            "e.g. \\ud800), which is not a character: fix or remove it"
        )
    # Read by key, case-insensitively: key order varies even within one cell (Q30).
    return [{str(key).casefold(): value for key, value in item.items()} for item in data]


def parse_geocode_points(cell: str) -> list[GeocodePoint]:
    points = []
    for item in _json_array(cell, "GeocodeResponse/GeocodePoints"):
        latitude, longitude = _json_text(item.get("latitude")), _json_text(item.get("longitude"))
        if latitude is None or longitude is None:
            raise ValueError("a GeocodePoints item lacks its Latitude or Longitude")
        points.append(
            GeocodePoint(
                latitude=latitude,
                longitude=longitude,
                calculation_method=_json_text(item.get("calculationmethod")),
                type=_json_text(item.get("type")),
                usage_types=_json_text(item.get("usagetypes")),
            )
        )
    return points


def parse_query_parse_values(cell: str) -> list[QueryParseValue]:
    values = []
    for item in _json_array(cell, "GeocodeResponse/QueryParseValues"):
        prop, value = _json_text(item.get("property")), _json_text(item.get("value"))
        if prop is None or value is None:
            raise ValueError("a QueryParseValues item lacks its Property or Value")
        values.append(QueryParseValue(property=prop, value=value))
    return values


def format_geocode_points(points: list[GeocodePoint]) -> str:
    """Compact JSON, every value a string, keys in the service's order."""
    items = [
        {key: getattr(point, attr) for key, attr in _POINT_KEYS if getattr(point, attr) is not None}
        for point in points
    ]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False) if items else ""


def format_query_parse_values(values: list[QueryParseValue]) -> str:
    items = [{"Property": v.property, "Value": v.value} for v in values]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False) if items else ""


def _address_from(
    cells: Mapping[str, str], prefix: str, parts: tuple[str, ...], present: frozenset[str]
) -> Address | None:
    if present.isdisjoint(cells.keys()):
        return None
    return Address(**{ADDRESS_FIELDS[part]: cells.get(prefix + part) for part in parts})


def entity_from_cells(
    cells: Mapping[str, str], *, line: int | None = None, problem: Callable[[str, str], None]
) -> GeocodeEntity:
    """Build an entity from ``{canonical column: trimmed non-empty value}``.

    A row is a reverse request when it has a reverse-only cell, a forward request when it has a
    forward-only cell, or when it has only Culture/MinimumConfidence (the service then fails it
    for lack of an address field, as in the official error samples). Culture and
    MinimumConfidence go to whichever request(s) the row makes. ``problem(code, message)`` is
    told about values that cannot be represented (they are left out).
    """
    get = cells.get
    culture, min_confidence = get(CULTURE), get(MIN_CONFIDENCE)
    keys = cells.keys()
    has_reverse = not _REVERSE_ONLY.isdisjoint(keys)
    has_forward = not _FORWARD_ONLY.isdisjoint(keys) or (
        not has_reverse and (culture is not None or min_confidence is not None)
    )
    entity = GeocodeEntity(id=get(ID), line=line)
    if has_forward:
        strict = get(STRICT_MATCH)
        strict_value: bool | None = None
        if strict is not None:
            try:
                strict_value = parse_bool(strict)
            except ValueError as exc:
                problem("invalid-value", f"{STRICT_MATCH}: {exc}")
        entity.geocode_request = GeocodeRequest(
            culture=culture,
            query=get(QUERY),
            address=_address_from(
                cells, "GeocodeRequest/Address/", REQUEST_ADDRESS_PARTS, _REQUEST_ADDRESS_COLUMNS
            ),
            min_confidence=min_confidence,
            strict_match=strict_value,
        )
    if has_reverse:
        entity.reverse_geocode_request = ReverseGeocodeRequest(
            latitude=get(LATITUDE),
            longitude=get(LONGITUDE),
            culture=culture,
            include_entity_types=get(ENTITY_TYPES),
            min_confidence=min_confidence,
        )
    if not _RESPONSE_COLUMNS.isdisjoint(keys):
        entity.responses.append(_response_from(cells, problem))
    entity.status_code = get(STATUS_CODE)
    entity.fault_reason = get(FAULT_REASON)
    entity.trace_id = get(TRACE_ID)
    return entity


def _response_from(
    cells: Mapping[str, str], problem: Callable[[str, str], None]
) -> GeocodeResponse:
    get = cells.get
    response = GeocodeResponse(
        name=get(NAME),
        entity_type=get(ENTITY_TYPE),
        confidence=get(CONFIDENCE),
        match_codes=get(MATCH_CODES),
        address=_address_from(
            cells, "GeocodeResponse/Address/", RESPONSE_ADDRESS_PARTS, _RESPONSE_ADDRESS_COLUMNS
        ),
    )
    for column, parse, attr in (
        (GEOCODE_POINTS, parse_geocode_points, "geocode_points"),
        (QUERY_PARSE_VALUES, parse_query_parse_values, "query_parse_values"),
    ):
        cell = get(column)
        if cell is not None:
            try:
                setattr(response, attr, parse(cell))
            except ValueError as exc:
                problem("invalid-json", str(exc))
    south, west, north, east = get(BBOX_SOUTH), get(BBOX_WEST), get(BBOX_NORTH), get(BBOX_EAST)
    if south and west and north and east:
        response.bounding_box = BoundingBox(south, west, north, east)
    elif south or west or north or east:
        problem("partial-bounding-box", "a BoundingBox needs all four of South/West/North/East")
    latitude, longitude = get(POINT_LAT), get(POINT_LON)
    if latitude and longitude:
        response.point = Point(latitude, longitude)
    elif latitude or longitude:
        problem("partial-point", "GeocodeResponse/Point needs both Latitude and Longitude")
    return response


def entity_to_cells(entity: GeocodeEntity) -> dict[str, str]:
    """``{canonical column: value}`` for the non-empty values text can carry.

    Text has one Culture and one MinimumConfidence column for both request kinds: when an
    entity has both requests, the forward request's values win (see ``convert.text_losses``).
    Only the first response is written.
    """
    cells: dict[str, str] = {}

    def put(column: str, value: str | None) -> None:
        if value is not None and value != "":
            cells[column] = value

    put(ID, entity.id)
    reverse, forward = entity.reverse_geocode_request, entity.geocode_request
    if reverse is not None:
        put(CULTURE, reverse.culture)
        put(MIN_CONFIDENCE, reverse.min_confidence)
        put(ENTITY_TYPES, reverse.include_entity_types)
        put(LATITUDE, reverse.latitude)
        put(LONGITUDE, reverse.longitude)
    if forward is not None:
        put(CULTURE, forward.culture)
        put(MIN_CONFIDENCE, forward.min_confidence)
        put(QUERY, forward.query)
        put(STRICT_MATCH, format_bool(forward.strict_match))
        if forward.address is not None:
            for part in REQUEST_ADDRESS_PARTS:
                put(
                    f"GeocodeRequest/Address/{part}", getattr(forward.address, ADDRESS_FIELDS[part])
                )
    if entity.responses:
        response = entity.responses[0]
        put(NAME, response.name)
        put(ENTITY_TYPE, response.entity_type)
        put(CONFIDENCE, response.confidence)
        put(MATCH_CODES, response.match_codes)
        if response.address is not None:
            for part in RESPONSE_ADDRESS_PARTS:
                put(
                    f"GeocodeResponse/Address/{part}",
                    getattr(response.address, ADDRESS_FIELDS[part]),
                )
        if response.point is not None:
            put(POINT_LAT, response.point.latitude)
            put(POINT_LON, response.point.longitude)
        if response.bounding_box is not None:
            box = response.bounding_box
            put(BBOX_SOUTH, box.south_latitude)
            put(BBOX_WEST, box.west_longitude)
            put(BBOX_NORTH, box.north_latitude)
            put(BBOX_EAST, box.east_longitude)
        put(GEOCODE_POINTS, format_geocode_points(response.geocode_points))
        put(QUERY_PARSE_VALUES, format_query_parse_values(response.query_parse_values))
    put(STATUS_CODE, entity.status_code)
    put(FAULT_REASON, entity.fault_reason)
    put(TRACE_ID, entity.trace_id)
    return cells
