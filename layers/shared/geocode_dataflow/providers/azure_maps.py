"""Azure Maps Geocoding Batch as an entity geocoder: up to 100 entities per request.

``POST /geocode:batch`` and ``POST /reverseGeocode:batch`` with the key in the
``subscription-key`` header (never in a URL), one request per group of entities of the same
kind and Culture (``Accept-Language`` is per request). The mapping both ways follows the
project's reference (azure-maps-batch.md §8): ``query`` is never sent with structured fields,
coordinates travel as [lon, lat], ``Parcel`` is Bing's ``ParcelCentroid``, match codes are
joined as Bing writes them. Options Azure lacks are honoured by filtering its answers
(``MinimumConfidence``, ``StrictMatch``, reverse ``IncludeEntityTypes``). An item error fails
that entity with Azure's code and message; an empty feature list is a no-match.

429 and 5xx are transient (the chunk step retries them through the shared rate limiter); a 408
(the batch ran over Azure's 60 seconds) asks for the batch to be halved; 401/403 fail the job.

Azure is not trusted to answer sanely: a batch exchange ends within ``deadline`` seconds
(``DeadlineExceededError``), its answer is at most ``MAX_BATCH_ANSWER_BYTES``
(``ResponseTooLargeError``) and must not be nested too deep to be read
(``ResponseTooDeepError``). The key is scrubbed from the whole answer before it is read, so no
message, FaultReason or field can carry it.
"""

from __future__ import annotations

from typing import Any

import requests

from geocode_dataflow.client import transport
from geocode_dataflow.client.parsing import json_document
from geocode_dataflow.client.security import check_endpoint, redact
from geocode_dataflow.errors import (
    AuthenticationError,
    DeadlineExceededError,
    PermanentError,
    ProtocolError,
    ProviderThrottledError,
    ResponseTooDeepError,
    ServiceUnavailableError,
    SplitBatchError,
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
    ReverseGeocodeRequest,
)

NAME = "AzureMaps"
DEFAULT_ENDPOINT = "https://atlas.microsoft.com"
DEFAULT_API_VERSION = "2026-01-01"
BATCH_SIZE = 100
# 100 items of at most 20 features of about 1.5 KB each is 3 MB; real answers are far smaller.
MAX_BATCH_ANSWER_BYTES = 16 * 1024 * 1024
# Azure ends a synchronous batch after 60 s (a 408); the exchange as a whole gets a margin more.
DEFAULT_DEADLINE_SECONDS = 90.0
CONFIDENCES = ("Low", "Medium", "High")
_RANK = {c.casefold(): i for i, c in enumerate(CONFIDENCES)}
_CODE_ORDER = {"ambiguous": 0, "good": 1, "uphierarchy": 2}
REVERSE_TYPES = (
    "Address",
    "Neighborhood",
    "PopulatedPlace",
    "Postcode1",
    "AdminDivision1",
    "AdminDivision2",
    "CountryRegion",
)
_COUNTRY_ALIASES = {
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
}


class AzureMapsGeocoder:
    name = NAME
    batch_size = BATCH_SIZE

    def __init__(
        self,
        key: str,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        api_version: str = DEFAULT_API_VERSION,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 75.0),
        deadline: float = DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        """``timeout`` bounds each connect and read, ``deadline`` a whole batch exchange."""
        self._key = key
        self._endpoint = check_endpoint(endpoint.rstrip("/"))
        self._api_version = api_version
        self._session = session or requests.Session()
        transport.mount_guarded_adapter(self._session)
        self._timeout = timeout
        self._deadline = deadline

    def __repr__(self) -> str:  # never the key
        return f"AzureMapsGeocoder(endpoint={self._endpoint!r}, api_version={self._api_version!r})"

    def batch_key(self, entity: GeocodeEntity) -> tuple[str, str]:
        kind = "reverse" if entity.reverse_geocode_request else "forward"
        return (kind, self._culture(entity).casefold())

    # ------------------------------------------------------------------ one request
    def geocode_batch(
        self, entities: list[GeocodeEntity], *, text_format: bool
    ) -> list[GeocodeEntity]:
        if not entities:
            return entities
        reverse = entities[0].reverse_geocode_request is not None
        culture = self._culture(entities[0])
        items: list[dict[str, Any] | None] = []
        for entity in entities:
            try:
                items.append(
                    _reverse_item(entity) if reverse else _forward_item(entity, text_format)
                )
            except EntityFault as fault:
                _fail(entity, "BadRequest", str(fault))
                items.append(None)
        sent = [(e, item) for e, item in zip(entities, items, strict=True) if item is not None]
        if not sent:
            return entities
        path = "reverseGeocode:batch" if reverse else "geocode:batch"
        answers = self._post(path, [item for _, item in sent], culture)
        for (entity, _item), answer in zip(sent, answers, strict=True):
            _apply(entity, answer, text_format=text_format)
        return entities

    def _culture(self, entity: GeocodeEntity) -> str:
        request = entity.reverse_geocode_request or entity.geocode_request
        return ((request.culture if request else None) or "en-US").strip() or "en-US"

    def _post(self, path: str, items: list[dict[str, Any]], culture: str) -> list[dict[str, Any]]:
        with transport.Deadline(self._deadline) as deadline:
            failure: Exception | None = None
            try:
                with deadline.watching():
                    response = self._session.post(
                        f"{self._endpoint}/{path}",
                        params={"api-version": self._api_version},
                        json={"batchItems": items},
                        headers={"subscription-key": self._key, "Accept-Language": culture},
                        timeout=self._timeout,
                        stream=True,  # read by read_body, bounded
                        allow_redirects=False,  # a redirect would carry the key header elsewhere
                    )
            except (requests.RequestException, transport.DeadlinePassed) as exc:
                failure = _failure(exc, deadline)
            if failure is not None:
                raise failure
            status = response.status_code
            if status == 200:
                return self._items(self._answer(response, deadline), len(items))
            body = transport.read_limited(response)
        message = redact(_error_message(body, status), [self._key])
        if status == 408:
            raise SplitBatchError(f"Azure Maps timed out on the batch: {message}", status_code=408)
        if status == 429:
            raise ProviderThrottledError(
                f"Azure Maps throttled the request: {message}", status_code=429
            )
        if status in (401, 403):
            raise AuthenticationError(
                f"Azure Maps refused the key ({status}): {message}. Check the secret and the "
                "Maps account.",
                status_code=status,
            )
        if status >= 500:
            raise ServiceUnavailableError(
                f"Azure Maps failed ({status}): {message}", status_code=status
            )
        raise PermanentError(f"Azure Maps refused the batch ({status}): {message}")

    def _answer(self, response: requests.Response, deadline: transport.Deadline) -> Any:
        """The batch answer, bounded, scrubbed of the key, parsed."""
        failure: Exception | None = None
        try:
            raw = transport.read_body(
                response, MAX_BATCH_ANSWER_BYTES, deadline, "Azure Maps batch"
            )
        except (requests.RequestException, transport.DeadlinePassed) as exc:
            failure = _failure(exc, deadline)
        if failure is not None:
            raise failure  # outside the except block: requests' exceptions hold the URL
        try:
            return json_document(redact(raw.decode("utf-8"), [self._key]), "Azure Maps'")
        except ResponseTooDeepError:
            raise
        except (ProtocolError, UnicodeDecodeError):
            pass
        raise ServiceUnavailableError("Azure Maps answered something that is not JSON")

    @staticmethod
    def _items(body: Any, expected: int) -> list[dict[str, Any]]:
        items = body.get("batchItems") if isinstance(body, dict) else None
        if not isinstance(items, list) or len(items) != expected:
            # Positions are how answers are matched to entities: never guess; ask again.
            raise ServiceUnavailableError(
                f"Azure Maps answered {len(items) if isinstance(items, list) else 'no'} batch "
                f"items for {expected} requested"
            )
        return [item if isinstance(item, dict) else {} for item in items]


# ---------------------------------------------------------------------- request side
def _forward_item(entity: GeocodeEntity, text_format: bool) -> dict[str, Any]:
    request = entity.geocode_request or GeocodeRequest()
    address = request.address or Address()
    item: dict[str, Any] = {"optionalId": str(entity.id or "")}
    wanted = request.max_results or 1
    item["top"] = 1 if text_format else max(1, min(20, wanted))
    if request.strict_match or request.min_confidence:
        item["top"] = max(item["top"], 5)  # filtered here: ask for enough to filter
    query = clean(request.query)
    if query is not None:
        item["query"] = query  # never with structured fields: Azure refuses the mix
        return item
    fields = {
        "addressLine": clean(address.address_line),
        "locality": clean(address.locality),
        "adminDistrict": clean(address.admin_district),
        "adminDistrict2": clean(address.admin_district2),
        "postalCode": clean(address.postal_code),
        "countryRegion": _iso2(clean(address.country_region)),
    }
    if not fields["locality"]:
        fields["adminDistrict3"] = clean(address.postal_town)
    item.update({k: v for k, v in fields.items() if v})
    return item


def _reverse_item(entity: GeocodeEntity) -> dict[str, Any]:
    request = entity.reverse_geocode_request or ReverseGeocodeRequest()
    latitude = coordinate(request.latitude, "Latitude", 90.0)
    longitude = coordinate(request.longitude, "Longitude", 180.0)
    item: dict[str, Any] = {
        "optionalId": str(entity.id or ""),
        "coordinates": [longitude, latitude],
    }
    wanted = {
        t.strip().casefold() for t in (request.include_entity_types or "").split(",") if t.strip()
    }
    types = [t for t in REVERSE_TYPES if t.casefold() in wanted]
    if types:
        item["resultTypes"] = types
    return item


# ---------------------------------------------------------------------- response side
def _apply(entity: GeocodeEntity, answer: dict[str, Any], *, text_format: bool) -> None:
    error = answer.get("error")
    if error:
        code = str((error or {}).get("code") or "Error")
        message = str((error or {}).get("message") or "Azure Maps could not geocode this entity.")
        _fail(entity, "BadRequest", f"{code}: {message}")
        return
    request = entity.reverse_geocode_request or entity.geocode_request
    assert request is not None
    minimum = _RANK.get((request.min_confidence or "low").casefold(), 0)
    neighborhood = bool(request.include_neighborhood)
    features = [f for f in answer.get("features") or [] if isinstance(f, dict)]
    responses = []
    for feature in features:
        response = _response(feature, neighborhood=neighborhood)
        if _RANK.get((response.confidence or "low").casefold(), 0) < minimum:
            continue
        if (
            isinstance(request, GeocodeRequest)
            and request.strict_match
            and not _strict(feature, request)
        ):
            continue
        if isinstance(request, ReverseGeocodeRequest) and request.include_entity_types:
            wanted = {t.strip().casefold() for t in request.include_entity_types.split(",")}
            if (response.entity_type or "").casefold() not in wanted:
                continue
        responses.append(response)
    limit = (
        1 if isinstance(request, ReverseGeocodeRequest) or text_format else request.max_results or 1
    )
    entity.responses = responses[:limit]
    entity.status_code, entity.fault_reason = "Success", None


def _response(feature: dict[str, Any], *, neighborhood: bool) -> GeocodeResponse:
    properties = feature.get("properties") or {}
    address = properties.get("address") or {}
    districts = [d for d in address.get("adminDistricts") or [] if isinstance(d, dict)]
    country = {str(k).casefold(): v for k, v in (address.get("countryRegion") or {}).items()}
    coordinates = (feature.get("geometry") or {}).get("coordinates") or []
    point = (
        Point(number_text(coordinates[1]), number_text(coordinates[0]))
        if len(coordinates) >= 2
        else None
    )
    points = []
    for geocode_point in properties.get("geocodePoints") or []:
        where = (geocode_point.get("geometry") or {}).get("coordinates") or []
        if len(where) < 2:
            continue
        method = geocode_point.get("calculationMethod")
        points.append(
            GeocodePoint(
                number_text(where[1]),
                number_text(where[0]),
                "ParcelCentroid" if method == "Parcel" else method,
                "Point",
                ", ".join(geocode_point.get("usageTypes") or []) or None,
            )
        )
    box = feature.get("bbox") or []
    codes = sorted(
        (str(c) for c in properties.get("matchCodes") or []),
        key=lambda c: _CODE_ORDER.get(c.casefold(), 9),
    )
    entity_type = properties.get("type")
    return GeocodeResponse(
        name=address.get("formattedAddress"),
        entity_type=_type_case(entity_type),
        confidence=properties.get("confidence"),
        match_codes=", ".join(codes) or None,
        address=Address(
            address_line=address.get("addressLine"),
            admin_district=_district(districts, 0),
            admin_district2=_district(districts, 1),
            country_region=country.get("name"),
            formatted_address=address.get("formattedAddress"),
            locality=address.get("locality"),
            postal_code=address.get("postalCode"),
            neighborhood=address.get("neighborhood") if neighborhood else None,
        ),
        geocode_points=points,
        bounding_box=(
            BoundingBox(
                number_text(box[1]), number_text(box[0]), number_text(box[3]), number_text(box[2])
            )
            if len(box) == 4
            else None
        ),
        point=point,
    )


def _strict(feature: dict[str, Any], request: GeocodeRequest) -> bool:
    """StrictMatch, which Azure lacks: the answer's ISO country and its state (short name or
    name) must be the requested ones."""
    address = request.address or Address()
    got = (feature.get("properties") or {}).get("address") or {}
    country = {str(k).casefold(): v for k, v in (got.get("countryRegion") or {}).items()}
    wanted_country = _iso2(clean(address.country_region))
    if wanted_country and str(country.get("iso") or "").upper() not in ("", wanted_country):
        return False
    wanted_region = clean(address.admin_district)
    if not wanted_region:
        return True
    districts = [d for d in got.get("adminDistricts") or [] if isinstance(d, dict)]
    names = {
        str(value).casefold()
        for district in districts[:1]
        for value in (district.get("shortName"), district.get("name"))
        if value
    }
    return not names or wanted_region.casefold() in names


def _district(districts: list[dict[str, Any]], index: int) -> str | None:
    if len(districts) <= index:
        return None
    return districts[index].get("shortName") or districts[index].get("name")


def _type_case(value: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    for known in ("Address", "RoadBlock", "RoadIntersection", *REVERSE_TYPES):
        if text.casefold() == known.casefold():
            return known
    return text


def _failure(exc: BaseException, deadline: transport.Deadline) -> Exception:
    if isinstance(exc, transport.DeadlinePassed) or deadline.passed:
        return DeadlineExceededError(
            f"Azure Maps did not finish answering the batch within {deadline.seconds:g} s"
        )
    if isinstance(exc, requests.Timeout):
        return SplitBatchError("Azure Maps did not answer the batch in time")
    return ServiceUnavailableError(f"Azure Maps could not be reached ({type(exc).__name__})")


def _error_message(body: bytes, status: int) -> str:
    """Azure's ``error.code: error.message``, else the start of the body (not yet redacted)."""
    try:
        error = json_document(body, "Azure Maps'").get("error") or {}
        return f"{error.get('code', status)}: {error.get('message', '')}".strip()
    except (ProtocolError, AttributeError):
        return body[:300].decode("utf-8", "replace") or str(status)


def _fail(entity: GeocodeEntity, status: str, reason: str) -> None:
    entity.responses, entity.status_code, entity.fault_reason = [], status, reason


def _iso2(country: str | None) -> str | None:
    """Azure wants ISO alpha-2: codes pass, a few common names are mapped, others dropped."""
    if not country:
        return None
    if len(country) == 2 and country.isascii() and country.isalpha():
        return country.upper()
    return _COUNTRY_ALIASES.get(country.casefold())
