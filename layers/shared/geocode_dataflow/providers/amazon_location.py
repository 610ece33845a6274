"""Amazon Location Service (Places API v2) as an entity geocoder, with boto3's ``geo-places``.

One Data Schema v2.0 entity is one ``Geocode`` or ``ReverseGeocode`` request (a reverse request
wins when an entity has both, as at the Dataflow service). Requests say ``IntendedUse:
Storage``: the results are kept in S3. The mapping both ways follows the project's reference
(amazon-location-places.md §13); where Amazon Location has no equivalent option it is honoured
by filtering the answers:

- ``MinimumConfidence``: Confidence is derived (forward from ``MatchScores.Overall``, reverse
  from ``Distance`` and ``PlaceType``), answers below the minimum are dropped;
- ``StrictMatch``: ``Filter.IncludeCountries`` when the country is an ISO code, then answers
  outside the requested AdminDistrict are dropped;
- ``IncludeEntityTypes`` (reverse): ``Filter.IncludePlaceTypes`` when every type maps to one,
  and always a filter on the mapped EntityType.

An entity left with no answer is a no-match (Success, no response), as at the Dataflow service.
"""

from __future__ import annotations

from typing import Any

from geocode_dataflow.errors import (
    AuthenticationError,
    PermanentError,
    ProviderThrottledError,
    ServiceUnavailableError,
)
from geocode_dataflow.providers.mapping import EntityFault, clean, coordinate, number_text
from geocode_dataflow.schema import (
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

NAME = "AmazonLocation"
MAX_QUERY = 200
MAX_COMPONENT = 100
CONFIDENCES = ("Low", "Medium", "High")
_RANK = {c.casefold(): i for i, c in enumerate(CONFIDENCES)}
AMBIGUITY = 0.02  # two answers this close in MatchScores.Overall, with different titles

ENTITY_TYPES = {
    "PointAddress": "Address",
    "InterpolatedAddress": "Address",
    "SecondaryAddress": "Address",
    "InferredSecondaryAddress": "Address",
    "Street": "RoadBlock",
    "Intersection": "RoadIntersection",
    "PostalCode": "Postcode1",
    "Locality": "PopulatedPlace",
    "District": "Neighborhood",
    "SubDistrict": "Neighborhood",
    "Block": "Neighborhood",
    "SubBlock": "Neighborhood",
    "SubRegion": "AdminDivision2",
    "Region": "AdminDivision1",
    "Country": "CountryRegion",
    "PointOfInterest": "LandmarkBuilding",
}
_ADDRESS_TYPES = {
    "PointAddress",
    "InterpolatedAddress",
    "SecondaryAddress",
    "InferredSecondaryAddress",
}
# IncludeEntityTypes values a reverse Filter.IncludePlaceTypes can express.
_REVERSE_FILTERS = {
    "address": ["PointAddress", "InterpolatedAddress"],
    "populatedplace": ["Locality"],
}


class AmazonLocationGeocoder:
    """One entity per request (Places v2 has no batch operation)."""

    name = NAME
    batch_size = 1

    def __init__(self, client: Any, *, intended_use: str = "Storage") -> None:
        self._client = client
        self._intended_use = intended_use

    @classmethod
    def from_config(cls, config: Any) -> AmazonLocationGeocoder:
        import boto3
        from botocore.config import Config

        # One attempt per call: every retry goes back through the shared rate limiter.
        client_config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=15,
            max_pool_connections=max(10, 2 * int(getattr(config, "request_concurrency", 4))),
        )
        client = boto3.client(
            "geo-places", endpoint_url=config.places_endpoint or None, config=client_config
        )
        return cls(client, intended_use=config.intended_use)

    def batch_key(self, entity: GeocodeEntity) -> str:
        return "any"  # one entity per request: nothing to group

    def geocode_batch(
        self, entities: list[GeocodeEntity], *, text_format: bool
    ) -> list[GeocodeEntity]:
        return [self.geocode(entity, text_format=text_format) for entity in entities]

    # ------------------------------------------------------------------ one entity
    def geocode(self, entity: GeocodeEntity, *, text_format: bool) -> GeocodeEntity:
        try:
            if entity.reverse_geocode_request is not None:
                responses = self._reverse(entity.reverse_geocode_request)
            else:
                assert entity.geocode_request is not None
                responses = self._forward(entity.geocode_request, text_format=text_format)
        except EntityFault as fault:
            entity.responses, entity.status_code, entity.fault_reason = [], "BadRequest", str(fault)
            return entity
        entity.responses, entity.status_code, entity.fault_reason = responses, "Success", None
        return entity

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        try:
            return getattr(self._client, operation)(**params)
        except ClientError as exc:
            raise _translate(exc) from None
        except ParamValidationError as exc:  # refused before sending: the entity's values
            raise EntityFault(" ".join(str(exc).split())) from None
        except BotoCoreError as exc:  # timeouts, connection errors
            raise ServiceUnavailableError(
                f"Amazon Location could not be reached ({type(exc).__name__})"
            ) from None

    # ------------------------------------------------------------------ forward
    def _forward(self, request: GeocodeRequest, *, text_format: bool) -> list[GeocodeResponse]:
        params: dict[str, Any] = {"IntendedUse": self._intended_use}
        address = request.address or Address()
        query = clean(request.query)
        components = {
            "Locality": clean(address.locality) or clean(address.postal_town),
            "Region": clean(address.admin_district),
            "SubRegion": clean(address.admin_district2),
            "PostalCode": clean(address.postal_code),
            "Country": clean(address.country_region),
        }
        line = clean(address.address_line)
        if query is None:
            query = line  # a street line has no component of its own: it is the text
        elif line:
            components["Street"] = line
        if query is not None:
            if len(query) > MAX_QUERY:
                raise EntityFault(
                    f"The query is {len(query)} characters long; Amazon Location accepts at most {MAX_QUERY}."
                )
            params["QueryText"] = query
        kept = {k: v.replace(";", ",") for k, v in components.items() if v}
        for name, value in kept.items():
            if len(value) > MAX_COMPONENT:
                raise EntityFault(
                    f"The {name} value is {len(value)} characters long; Amazon Location accepts at most {MAX_COMPONENT}."
                )
        if kept:
            params["QueryComponents"] = kept
        wanted = request.max_results or 1
        params["MaxResults"] = max(
            wanted, 2
        )  # a second answer tells whether the first is ambiguous
        if request.culture:
            params["Language"] = request.culture
        country = kept.get("Country")
        if request.strict_match and country and _is_code(country):
            params["Filter"] = {"IncludeCountries": [country.upper()]}
        items = self._call("geocode", **params).get("ResultItems", [])

        minimum = _RANK.get((request.min_confidence or "low").casefold(), 0)
        had_street = bool(line) or any(_parsed_street(item) for item in items)
        parse = (
            request.include_query_parse if request.include_query_parse is not None else text_format
        )
        scored = [(item, _forward_confidence(item)) for item in items]
        if request.strict_match and address.admin_district:
            scored = [(i, c) for i, c in scored if _in_region(i, address.admin_district)]
        kept_items = [(i, c) for i, c in scored if _RANK[c.casefold()] >= minimum]
        responses = []
        for item, confidence in kept_items[:wanted]:
            codes = {"Good"}
            if _ambiguous(item, [i for i, _ in scored]):
                codes.add("Ambiguous")
            if had_street and item.get("PlaceType") not in _ADDRESS_TYPES:
                codes.add("UpHierarchy")
            responses.append(
                _response(
                    item,
                    confidence,
                    codes,
                    neighborhood=bool(request.include_neighborhood),
                    parse=_parse_values(item, params.get("QueryText")) if parse else [],
                )
            )
        return responses

    # ------------------------------------------------------------------ reverse
    def _reverse(self, request: ReverseGeocodeRequest) -> list[GeocodeResponse]:
        latitude = coordinate(request.latitude, "Latitude", 90.0)
        longitude = coordinate(request.longitude, "Longitude", 180.0)
        wanted = request.max_results or 1
        types = [t.strip() for t in (request.include_entity_types or "").split(",") if t.strip()]
        params: dict[str, Any] = {
            "QueryPosition": [longitude, latitude],
            "IntendedUse": self._intended_use,
            "MaxResults": wanted,
        }
        if request.culture:
            params["Language"] = request.culture
        if types and all(t.casefold() in _REVERSE_FILTERS for t in types):
            place_types = sorted({p for t in types for p in _REVERSE_FILTERS[t.casefold()]})
            params["Filter"] = {"IncludePlaceTypes": place_types}
        elif types:
            params["MaxResults"] = max(wanted, 10)  # filtered here: ask for enough to filter
        items = self._call("reverse_geocode", **params).get("ResultItems", [])
        folded = {t.casefold() for t in types}
        minimum = _RANK.get((request.min_confidence or "low").casefold(), 0)
        responses = []
        for item in items:
            entity_type = ENTITY_TYPES.get(str(item.get("PlaceType")), "Unknown")
            if folded and entity_type.casefold() not in folded:
                continue
            confidence = _reverse_confidence(item)
            if _RANK[confidence.casefold()] < minimum:
                continue
            responses.append(
                _response(
                    item,
                    confidence,
                    {"Good"},
                    neighborhood=bool(request.include_neighborhood),
                    parse=[],
                )
            )
        return responses[:wanted]


# ---------------------------------------------------------------------- errors
def _translate(exc: Any) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(error.get("Message") or exc.response.get("Message") or code)
    if code == "ValidationException" or status == 400:
        fields = exc.response.get("FieldList") or []
        details = "; ".join(f"{f.get('Name')}: {f.get('Message')}" for f in fields if f.get("Name"))
        return EntityFault(f"{message} ({details})" if details else message)
    if code == "ThrottlingException" or status == 429:
        return ProviderThrottledError(f"Amazon Location throttled the request: {message}")
    if status in (401, 403) or code in ("AccessDeniedException", "UnrecognizedClientException"):
        return AuthenticationError(
            f"Amazon Location refused the request ({code or status}): {message}. "
            "Check the function's IAM permissions (geo-places:Geocode, geo-places:ReverseGeocode).",
            status_code=status,
        )
    if status is not None and status >= 500:
        return ServiceUnavailableError(
            f"Amazon Location failed ({code or status}): {message}", status_code=status
        )
    return PermanentError(f"Amazon Location answered {code or status}: {message}")


# ---------------------------------------------------------------------- response side
def _response(
    item: dict[str, Any],
    confidence: str,
    codes: set[str],
    *,
    neighborhood: bool,
    parse: list[QueryParseValue],
) -> GeocodeResponse:
    place_type = str(item.get("PlaceType", ""))
    address = item.get("Address") or {}
    country = address.get("Country") or {}
    region = address.get("Region") or {}
    title = str(item.get("Title") or address.get("Label") or "")
    name = title
    if country.get("Name") and name.endswith(f", {country['Name']}"):
        name = name[: -len(country["Name"]) - 2]  # Bing's Name carries no country
    position = item.get("Position") or []
    point = (
        Point(number_text(position[1]), number_text(position[0])) if len(position) == 2 else None
    )
    method = _calculation_method(item)
    route = [
        access["Position"]
        for access in item.get("AccessPoints") or []
        if access.get("Position") and access["Position"] != position
    ]
    points = []
    if point is not None:
        usage = "Display" if route else "Display, Route"
        points.append(GeocodePoint(point.latitude, point.longitude, method, "Point", usage))
    for lon, lat in route:
        route_method = (
            "Interpolation" if place_type in ("InterpolatedAddress", "Street") else method
        )
        points.append(
            GeocodePoint(number_text(lat), number_text(lon), route_method, "Point", "Route")
        )
    view = item.get("MapView") or []
    box = (
        BoundingBox(
            number_text(view[1]), number_text(view[0]), number_text(view[3]), number_text(view[2])
        )
        if len(view) == 4
        else None
    )
    return GeocodeResponse(
        name=name or None,
        entity_type=ENTITY_TYPES.get(place_type, "Unknown"),
        confidence=confidence,
        match_codes=", ".join(sorted(codes)),
        address=Address(
            address_line=_address_line(address),
            admin_district=region.get("Code") or region.get("Name"),
            admin_district2=(address.get("SubRegion") or {}).get("Name"),
            country_region=country.get("Name"),
            formatted_address=address.get("Label") or title or None,
            locality=address.get("Locality"),
            postal_code=address.get("PostalCode"),
            landmark=title if place_type == "PointOfInterest" else None,
            neighborhood=(address.get("District") or address.get("SubDistrict"))
            if neighborhood
            else None,
        ),
        geocode_points=points,
        query_parse_values=parse,
        bounding_box=box,
        point=point,
    )


def _forward_confidence(item: dict[str, Any]) -> str:
    overall = float((item.get("MatchScores") or {}).get("Overall") or 0.0)
    rank = 2 if overall >= 0.95 else 1 if overall >= 0.80 else 0
    if item.get("AddressNumberCorrected") or item.get("EstimatedPointAddress"):
        rank = max(0, rank - 1)
    if item.get("PlaceType") == "InterpolatedAddress":
        rank = min(rank, 1)  # interpolated addresses may not exist
    return CONFIDENCES[rank]


def _reverse_confidence(item: dict[str, Any]) -> str:
    distance = float(item.get("Distance") or 0)
    if distance <= 50 and item.get("PlaceType") in _ADDRESS_TYPES:
        return "High"
    if distance <= 250 or item.get("PlaceType") not in _ADDRESS_TYPES:
        return "Medium"
    return "Low"


def _ambiguous(item: dict[str, Any], items: list[dict[str, Any]]) -> bool:
    score = float((item.get("MatchScores") or {}).get("Overall") or 0.0)
    return any(
        other is not item
        and other.get("Title") != item.get("Title")
        and abs(float((other.get("MatchScores") or {}).get("Overall") or 0.0) - score) <= AMBIGUITY
        for other in items
    )


def _calculation_method(item: dict[str, Any]) -> str:
    place_type = item.get("PlaceType")
    if place_type == "PointAddress":
        estimated = item.get("EstimatedPointAddress")
        return "InterpolationOffset" if estimated else "Rooftop"
    if place_type == "InterpolatedAddress":
        return "InterpolationOffset"
    if place_type in ("Street", "Intersection"):
        return "Interpolation"
    return "Rooftop"


def _address_line(address: dict[str, Any]) -> str | None:
    number, street = address.get("AddressNumber"), address.get("Street")
    if not street:
        return None
    first = str(address.get("Label") or "").split(",", 1)[0].strip()
    if number and number in first and street in first:
        return first
    return f"{number} {street}" if number else street


def _parse_values(item: dict[str, Any], query: str | None) -> list[QueryParseValue]:
    parsed = (item.get("ParsedQuery") or {}).get("Address") or {}
    values: list[QueryParseValue] = []
    street = [c for key in ("AddressNumber", "Street") for c in parsed.get(key) or []]
    if street and query:
        start = min(int(c.get("StartIndex", 0)) for c in street)
        end = max(int(c.get("EndIndex", 0)) for c in street)
        values.append(QueryParseValue("AddressLine", query[start:end]))
    for source, target in (
        ("Locality", "Locality"),
        ("Region", "AdminDistrict"),
        ("SubRegion", "AdminDistrict2"),
        ("PostalCode", "PostalCode"),
        ("Country", "CountryRegion"),
    ):
        for component in parsed.get(source) or []:
            if component.get("Value"):
                values.append(QueryParseValue(target, str(component["Value"])))
    return values


def _parsed_street(item: dict[str, Any]) -> bool:
    """Amazon Location read a house number or a street in the free-form query."""
    parsed = (item.get("ParsedQuery") or {}).get("Address") or {}
    return bool(parsed.get("AddressNumber") or parsed.get("Street"))


def _in_region(item: dict[str, Any], wanted: str) -> bool:
    region = (item.get("Address") or {}).get("Region") or {}
    names = {str(region.get("Code") or "").casefold(), str(region.get("Name") or "").casefold()}
    return wanted.strip().casefold() in names or not region


# ---------------------------------------------------------------------- helpers


def _is_code(country: str) -> bool:
    """An ISO 3166 code as Filter.IncludeCountries takes it ("UK" is a common name, not one)."""
    code = country.upper()
    return country.isascii() and country.isalpha() and len(country) in (2, 3) and code != "UK"
