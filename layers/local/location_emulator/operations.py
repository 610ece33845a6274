"""The two operations, Geocode and ReverseGeocode, over the shared offline geocoder.

Takes a request body already checked by ``validation`` and returns the response body plus the
pricing bucket (which travels in a header). No HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline_geocoder import EntityFaultError, Geocoder

from . import mapping
from .validation import MISSING, FieldError, RequestValidationError

GEOCODE_DEFAULT_MAX_RESULTS = 20  # model defaults
REVERSE_DEFAULT_MAX_RESULTS = 1
# Ask the geocoder for everything it has (it stops at 20), then filter and trim: the filters
# are applied before the limit, as a server-side filter would be.
_CANDIDATES = 20
_ADVANCED_FEATURES = {"TimeZone", "Access"}


@dataclass(frozen=True)
class OperationResult:
    body: dict[str, Any]
    pricing_bucket: str


def pricing_bucket(body: dict[str, Any]) -> str:
    """Reference §8: Storage is billed Stored whatever else is asked; TimeZone/Access Advanced."""
    if body.get("IntendedUse") == "Storage":
        return "Stored"
    if _ADVANCED_FEATURES & set(body.get("AdditionalFeatures") or ()):
        return "Advanced"
    return "Core"


class PlacesService:
    def __init__(self, geocoder: Geocoder) -> None:
        self.geocoder = geocoder

    def geocode(self, body: dict[str, Any]) -> OperationResult:
        gazetteer = self.geocoder.gazetteer
        try:
            responses = self.geocoder.forward(mapping.geocode_request(body, _CANDIDATES))
        except EntityFaultError as fault:
            # Only a query with nothing in it gets here (blank text, blank components).
            raise RequestValidationError([FieldError("QueryText", str(fault), MISSING)]) from None
        text = body.get("QueryText")
        parsed = mapping.parsed_text(self.geocoder.parse_query(text)) if text else {}
        asked = mapping.asked_components(body, parsed)
        parsed_query = mapping.parsed_query(text, parsed) if text else None
        items = []
        for response in responses:
            item = mapping.result_item(response, gazetteer)
            if item is None:
                continue
            item["MatchScores"] = mapping.match_scores(response, item, asked, gazetteer)
            if parsed_query:
                item["ParsedQuery"] = parsed_query
            items.append(item)
        items = self._filtered(items, body.get("Filter") or {})
        bias = body.get("BiasPosition")
        if bias:
            # "Results closer to this point rank higher"; Distance is measured from it.
            for item in items:
                item["Distance"] = mapping.distance_metres(bias, item["Position"])
            items.sort(key=lambda item: item["Distance"])
        limit = body.get("MaxResults", GEOCODE_DEFAULT_MAX_RESULTS)
        return OperationResult({"ResultItems": items[:limit]}, pricing_bucket(body))

    def reverse_geocode(self, body: dict[str, Any]) -> OperationResult:
        gazetteer = self.geocoder.gazetteer
        position = body["QueryPosition"]
        responses = self.geocoder.reverse(mapping.reverse_request(body, _CANDIDATES))
        radius = body.get("QueryRadius")
        items = []
        for response in responses:
            item = mapping.result_item(response, gazetteer)
            if item is None:
                continue
            item["Distance"] = mapping.distance_metres(position, item["Position"])
            if radius is None or item["Distance"] <= radius:
                items.append(item)
        items = self._filtered(items, body.get("Filter") or {})
        limit = body.get("MaxResults", REVERSE_DEFAULT_MAX_RESULTS)
        return OperationResult({"ResultItems": items[:limit]}, pricing_bucket(body))

    def _filtered(self, items: list[dict[str, Any]], filters: dict[str, Any]) -> list[dict]:
        countries = filters.get("IncludeCountries")
        if countries:
            # The gazetteer reads alpha-2 and alpha-3 codes alike.
            wanted = {self.geocoder.gazetteer.country_code(code) for code in countries}
            items = [item for item in items if mapping.in_countries(item, wanted - {None})]
        place_types = filters.get("IncludePlaceTypes")
        if place_types:
            items = [item for item in items if item["PlaceType"] in place_types]
        return items
