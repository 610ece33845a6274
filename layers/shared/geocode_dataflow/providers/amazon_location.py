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

botocore signs, serialises and parses; it reads an answer whole, with no size cap and no bound
on the exchange as a whole (only each read's), and its parser makes an empty answer of one that
is not JSON or was cut short. So the adapter sends botocore's signed requests itself, on
botocore's ``before-send`` event (the hook botocore offers for supplying a response), through
the transport the other providers use: each exchange ends within ``deadline`` seconds
(``DeadlineExceededError``), an answer is at most ``MAX_ANSWER_BYTES``
(``ResponseTooLargeError``), is not nested too deep to be read (``ResponseTooDeepError``), and a success that is not a JSON object is a transient error, not a
no-match. TLS and proxies are then requests' (its environment variables), not botocore's.
"""

from __future__ import annotations

from typing import Any

import requests

from geocode_dataflow.client import transport
from geocode_dataflow.client.parsing import json_document
from geocode_dataflow.client.security import redact
from geocode_dataflow.errors import (
    AuthenticationError,
    DeadlineExceededError,
    PermanentError,
    ProtocolError,
    ProviderThrottledError,
    ResponseTooDeepError,
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
# A Places answer holds at most 100 results of about 2 KB: 200 KB. Anything near this is not one.
MAX_ANSWER_BYTES = transport.MAX_ANSWER_BYTES
DEFAULT_TIMEOUT = (5.0, 15.0)  # connect, each read
DEFAULT_DEADLINE_SECONDS = 30.0  # one exchange; Places answers take well under a second
_SEND_HANDLER_ID = "geocode-dataflow-bounded-send"

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

    def __init__(
        self,
        client: Any,
        *,
        intended_use: str = "Storage",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        pool_size: int = 10,
    ) -> None:
        """``client``: a boto3 ``geo-places`` client; its requests are sent by this adapter (see
        the module's docstring), ``timeout`` bounding each connect and read, ``deadline`` each
        exchange, with up to ``pool_size`` connections kept."""
        self._client = client
        self._intended_use = intended_use
        self._timeout = timeout
        self._deadline = deadline
        self._http = requests.Session()
        self._http.headers.clear()  # botocore's signed headers and no others
        transport.mount_guarded_adapter(self._http, pool_maxsize=pool_size)
        client.meta.events.register(
            "before-send.geo-places", self._send, unique_id=_SEND_HANDLER_ID
        )

    @classmethod
    def from_config(cls, config: Any) -> AmazonLocationGeocoder:
        import boto3
        from botocore.config import Config

        # One attempt per call: every retry goes back through the shared rate limiter.
        client = boto3.client(
            "geo-places",
            endpoint_url=config.places_endpoint or None,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        pool_size = max(10, 2 * int(getattr(config, "request_concurrency", 4)))
        return cls(client, intended_use=config.intended_use, pool_size=pool_size)

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
        """One request; our own errors (raised by ``_send``) pass through botocore unchanged."""
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        try:
            return getattr(self._client, operation)(**params)
        except ClientError as exc:
            raise _translate(exc) from None
        except ParamValidationError as exc:  # refused before sending: the entity's values
            raise EntityFault(" ".join(str(exc).split())) from None
        except BotoCoreError as exc:  # anything else botocore itself could not do
            raise ServiceUnavailableError(
                f"Amazon Location could not be reached ({type(exc).__name__})"
            ) from None

    def _send(self, request: Any, **_: Any) -> Any:
        """botocore's ``before-send``: the signed request, sent through the bounded transport;
        the answer is handed back to botocore, which parses it."""
        from botocore.awsrequest import AWSResponse

        failure: Exception | None = None
        with transport.Deadline(self._deadline) as deadline:
            try:
                with deadline.watching():
                    response = self._http.request(
                        request.method,
                        request.url,
                        headers=dict(request.headers.items()),
                        data=request.body,
                        timeout=self._timeout,
                        stream=True,
                        allow_redirects=False,
                    )
                succeeded = 200 <= response.status_code < 300
                if succeeded:
                    body = transport.read_body(
                        response, MAX_ANSWER_BYTES, deadline, "Amazon Location"
                    )
                else:
                    body = transport.read_limited(response)
            except (requests.RequestException, transport.DeadlinePassed) as exc:
                failure = _failure(exc, deadline)
        if failure is not None:
            raise failure  # outside the except block: requests' exceptions hold the URL
        _check_answer(body, succeeded)
        return AWSResponse(request.url, response.status_code, response.headers, _ReadBody(body))

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


class _ReadBody:
    """An answer already read, in the shape botocore reads a body from (``stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _check_answer(body: bytes, succeeded: bool) -> None:
    """Refuse what botocore's parser would choke on (``RecursionError``) or take for nothing
    (a success that is not a JSON object). An error answer need not be JSON: botocore then
    names the error by its status."""
    document: Any = None
    try:
        document = json_document(body, "Amazon Location's") if body.strip() else None
    except ResponseTooDeepError:
        raise
    except ProtocolError:
        pass
    if succeeded and not isinstance(document, dict):
        raise ServiceUnavailableError(
            "Amazon Location answered something that is not a JSON object"
        )


def _failure(exc: BaseException, deadline: transport.Deadline) -> Exception:
    if isinstance(exc, transport.DeadlinePassed) or deadline.passed:
        return DeadlineExceededError(
            f"Amazon Location did not finish answering within {deadline.seconds:g} s"
        )
    return ServiceUnavailableError(f"Amazon Location could not be reached ({type(exc).__name__})")


# ---------------------------------------------------------------------- errors
def _translate(exc: Any) -> Exception:
    error = exc.response.get("Error", {})
    code = redact(str(error.get("Code", "")))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = redact(str(error.get("Message") or exc.response.get("Message") or code))
    if code == "ValidationException" or status == 400:
        fields = exc.response.get("FieldList") or []
        details = "; ".join(f"{f.get('Name')}: {f.get('Message')}" for f in fields if f.get("Name"))
        details = redact(details)
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
