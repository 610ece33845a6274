"""The entities of Geocode Dataflow Data Schema v2.0, independent of the file format.

Every value stays a string exactly as the file carried it (coordinates included), so that a
file read in one format and written in another keeps its values. Absent and empty are the
same thing: both are ``None``. Booleans and MaxResults are the only typed options.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def _all_empty(obj: object) -> bool:
    return all(getattr(obj, f.name) in (None, "", []) for f in fields(obj))  # type: ignore[arg-type]


@dataclass(slots=True)
class Address:
    address_line: str | None = None
    admin_district: str | None = None
    country_region: str | None = None
    admin_district2: str | None = None
    formatted_address: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    postal_town: str | None = None
    landmark: str | None = None
    neighborhood: str | None = None

    def is_empty(self) -> bool:
        return _all_empty(self)


@dataclass(slots=True)
class GeocodeRequest:
    culture: str | None = None
    query: str | None = None
    address: Address | None = None
    min_confidence: str | None = None
    include_neighborhood: bool | None = None
    include_query_parse: bool | None = None
    max_results: int | None = None
    strict_match: bool | None = None


@dataclass(slots=True)
class ReverseGeocodeRequest:
    latitude: str | None = None
    longitude: str | None = None
    culture: str | None = None
    include_entity_types: str | None = None
    include_neighborhood: bool | None = None
    max_results: int | None = None
    min_confidence: str | None = None


@dataclass(slots=True)
class GeocodePoint:
    latitude: str
    longitude: str
    calculation_method: str | None = None
    type: str | None = "Point"
    usage_types: str | None = None


@dataclass(slots=True)
class BoundingBox:
    south_latitude: str
    west_longitude: str
    north_latitude: str
    east_longitude: str


@dataclass(slots=True)
class Point:
    latitude: str
    longitude: str


@dataclass(slots=True)
class QueryParseValue:
    property: str
    value: str


@dataclass(slots=True)
class GeocodeResponse:
    name: str | None = None
    entity_type: str | None = None
    confidence: str | None = None
    match_codes: str | None = None
    address: Address | None = None
    geocode_points: list[GeocodePoint] = field(default_factory=list)
    query_parse_values: list[QueryParseValue] = field(default_factory=list)
    bounding_box: BoundingBox | None = None
    point: Point | None = None


@dataclass(slots=True)
class GeocodeEntity:
    """One row of a text file or one ``GeocodeEntity`` element of an XML feed."""

    id: str | None
    geocode_request: GeocodeRequest | None = None
    reverse_geocode_request: ReverseGeocodeRequest | None = None
    responses: list[GeocodeResponse] = field(default_factory=list)
    status_code: str | None = None
    fault_reason: str | None = None
    trace_id: str | None = None
    # Where the entity starts in its source file (1-based line), for reports; not data.
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """``reverse`` when it carries a reverse request, ``geocode`` for a forward request,
        ``none`` when it has neither (the service fails such an entity)."""
        if self.reverse_geocode_request is not None:
            return "reverse"
        if self.geocode_request is not None:
            return "geocode"
        return "none"
