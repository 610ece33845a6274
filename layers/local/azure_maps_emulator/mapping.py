"""Between Azure Maps batch items and the offline geocoder's Data Schema v2.0 terms.

Validated items become ``GeocodeRequest`` / ``ReverseGeocodeRequest``; each ``GeocodeResponse``
becomes a GeoJSON Feature (reference §4.3-§4.4, and §8.4 read backwards). The geocoder already
speaks Azure's vocabulary (EntityType = ``properties.type``, Confidence, MatchCodes); what
differs is the shape: [lon, lat] everywhere, arrays for match codes and usage types,
``adminDistricts`` and ``countryRegion`` objects, and ``Parcel`` for Bing's ``ParcelCentroid``.
"""

from __future__ import annotations

import re
from typing import Any

from geocode_dataflow.schema.model import (
    Address,
    GeocodeRequest,
    GeocodeResponse,
    ReverseGeocodeRequest,
)
from offline_geocoder.gazetteer import US, Gazetteer, distance_km

from .validation import ForwardItem, ReverseItem

# Azure field -> the geocoder's Address field. adminDistrict3 ("named area") stands in for the
# locality only, as the provider sends it (reference §8.2, PostalTown).
_ADDRESS_FIELDS = {
    "addressLine": "address_line",
    "locality": "locality",
    "adminDistrict": "admin_district",
    "adminDistrict2": "admin_district2",
    "adminDistrict3": "postal_town",
    "postalCode": "postal_code",
    "countryRegion": "country_region",
}
_CALCULATION_METHODS = {"ParcelCentroid": "Parcel"}  # Bing -> Azure (AZ-Q5); others unchanged
_STREET_LINE = re.compile(r"(\d[\w-]*)\s+(.+)")
_BING_COUNTY = re.compile(r"\s+Co\.$")


# -- requests --------------------------------------------------------------------------------------


def geocode_request(item: ForwardItem, culture: str | None, candidates: int) -> GeocodeRequest:
    values = {_ADDRESS_FIELDS[name]: value for name, value in item.fields.items()}
    return GeocodeRequest(
        culture=culture,
        query=item.query,
        address=Address(**values),
        max_results=candidates,
    )


def reverse_request(
    item: ReverseItem, culture: str | None, candidates: int
) -> ReverseGeocodeRequest:
    lon, lat = item.coordinates
    return ReverseGeocodeRequest(
        latitude=repr(lat),
        longitude=repr(lon),
        culture=culture,
        include_entity_types=",".join(item.result_types) or None,
        max_results=candidates,
    )


def ranked(features: list[dict[str, Any]], item: ForwardItem) -> list[dict[str, Any]]:
    """``bbox`` and ``coordinates`` only rank ("taken into account", "used for ranking"):
    features inside the box first, then the nearest to the user's location first. Sorting is
    stable, so the geocoder's own order decides the rest."""
    if item.bbox is None and item.coordinates is None:
        return features

    def key(feature: dict[str, Any]) -> tuple[bool, float]:
        lon, lat = feature["geometry"]["coordinates"]
        outside = item.bbox is not None and not _inside(lon, lat, item.bbox)
        near = item.coordinates
        return outside, distance_km(lat, lon, near[1], near[0]) if near else 0.0

    return sorted(features, key=key)


# -- features --------------------------------------------------------------------------------------


def feature(
    response: GeocodeResponse, gazetteer: Gazetteer, api_version: str
) -> dict[str, Any] | None:
    """The Feature for one geocoder answer; None for an answer without a point."""
    if response.point is None:
        return None
    position = _position(response.point.latitude, response.point.longitude)
    properties: dict[str, Any] = {
        "type": response.entity_type,
        "confidence": response.confidence or "Low",
        "matchCodes": _split(response.match_codes) or ["Good"],
        "address": _address(response.address or Address(), gazetteer, api_version),
        "geocodePoints": [
            {
                "geometry": {
                    "type": "Point",
                    "coordinates": _position(point.latitude, point.longitude),
                },
                "calculationMethod": _CALCULATION_METHODS.get(
                    point.calculation_method or "", point.calculation_method
                ),
                "usageTypes": _split(point.usage_types) or ["Display"],
            }
            for point in response.geocode_points
        ],
    }
    out: dict[str, Any] = {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Point", "coordinates": position},
    }
    box = response.bounding_box
    if box is not None:
        out["bbox"] = [
            float(box.west_longitude),
            float(box.south_latitude),
            float(box.east_longitude),
            float(box.north_latitude),
        ]
    return out


def _address(address: Address, gazetteer: Gazetteer, api_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if address.locality:
        out["locality"] = address.locality
    if address.neighborhood:
        out["neighborhood"] = address.neighborhood
    districts = _admin_districts(address, gazetteer)
    if districts:
        out["adminDistricts"] = districts
    iso2 = gazetteer.country_code(address.country_region)
    if iso2:
        out["countryRegion"] = {"ISO": iso2, "name": gazetteer.country_names.get(iso2, iso2)}
    elif address.country_region:
        out["countryRegion"] = {"name": address.country_region}
    if address.postal_code:
        out["postalCode"] = address.postal_code
    if address.formatted_address:
        out["formattedAddress"] = address.formatted_address
    if address.address_line:
        split = _STREET_LINE.fullmatch(address.address_line)
        if split and api_version >= "2025-01-01":  # streetName/streetNumber are 2025-01-01+
            out["streetName"], out["streetNumber"] = split.group(2), split.group(1)
        out["addressLine"] = address.address_line
    return out


def _admin_districts(address: Address, gazetteer: Gazetteer) -> list[dict[str, str]]:
    """[0] the state, [1] the county, as the migration guide shows them: ``{"name":
    "Washington", "shortName": "WA"}``, ``{"name": "King County", "shortName": "King Co."}``.
    The short names are Bing's, so a provider reading ``shortName`` gets Bing's values back."""
    state = address.admin_district
    if not state:
        return []
    us = gazetteer.country_code(address.country_region) == US
    if us and state in gazetteer.state_names:
        districts = [{"name": gazetteer.state_names[state], "shortName": state}]
    else:
        districts = [{"name": state, "shortName": state}]
    county = address.admin_district2
    if county:
        districts.append({"name": _BING_COUNTY.sub(" County", county), "shortName": county})
    return districts


def _position(latitude: str, longitude: str) -> list[float]:
    return [float(longitude), float(latitude)]


def _split(joined: str | None) -> list[str]:
    return [part.strip() for part in (joined or "").split(",") if part.strip()]


def _inside(lon: float, lat: float, bbox: tuple[float, float, float, float]) -> bool:
    lon1, lat1, lon2, lat2 = bbox
    south, north = min(lat1, lat2), max(lat1, lat2)
    west, east = min(lon1, lon2), max(lon1, lon2)
    return south <= lat <= north and west <= lon <= east
