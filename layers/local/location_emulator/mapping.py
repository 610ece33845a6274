"""Between Places API shapes and the offline geocoder's Data Schema v2.0 terms.

Requests become ``GeocodeRequest`` / ``ReverseGeocodeRequest``; each ``GeocodeResponse`` the
geocoder returns becomes one Places result item. The choices the reference leaves open (scores,
ids, titles) are listed in README.md ("Decisions").
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from geocode_dataflow.schema.model import (
    Address,
    GeocodeRequest,
    GeocodeResponse,
    ReverseGeocodeRequest,
)
from offline_geocoder.gazetteer import US, Gazetteer, distance_km, fold

# Data Schema v2.0 EntityType -> Places PlaceType (reference §13.4, read backwards).
PLACE_TYPES = {
    "Address": "PointAddress",
    "RoadBlock": "Street",
    "RoadIntersection": "Intersection",
    "Postcode1": "PostalCode",
    "PopulatedPlace": "Locality",
    "Neighborhood": "District",
    "AdminDivision2": "SubRegion",
    "AdminDivision1": "Region",
    "CountryRegion": "Country",
}

# MatchScores.Overall from the geocoder's Confidence. The provider maps Overall back with
# High >= 0.95, Medium >= 0.80 (reference §13.3), so a round trip keeps the Confidence.
OVERALL_SCORES = {"High": 1.0, "Medium": 0.85, "Low": 0.6}
HIGH_UP_HIERARCHY_SCORE = 0.97  # High, but coarser than the input asked for

# QueryComponents members -> the geocoder's Address fields.
_COMPONENT_FIELDS = {
    "Country": "country_region",
    "Region": "admin_district",
    "SubRegion": "admin_district2",
    "Locality": "locality",
    "District": "neighborhood",
    "PostalCode": "postal_code",
}
_STREET_LINE = re.compile(r"(\d[\w-]*)\s+(.+)")
_COUNTY_SUFFIX = re.compile(r"\s+(county|co\.?|parish|borough)$", re.IGNORECASE)


# -- requests --------------------------------------------------------------------------------------


def geocode_request(body: dict[str, Any], max_results: int) -> GeocodeRequest:
    components = body.get("QueryComponents") or {}
    values = {field: components.get(member) for member, field in _COMPONENT_FIELDS.items()}
    street = " ".join(
        part for part in (components.get("AddressNumber"), components.get("Street")) if part
    )
    return GeocodeRequest(
        culture=body.get("Language"),
        query=body.get("QueryText"),
        address=Address(address_line=street or None, **values),
        max_results=max_results,
    )


def reverse_request(body: dict[str, Any], max_results: int) -> ReverseGeocodeRequest:
    lon, lat = body["QueryPosition"]
    return ReverseGeocodeRequest(
        latitude=repr(float(lat)),
        longitude=repr(float(lon)),
        culture=body.get("Language"),
        max_results=max_results,
    )


def asked_components(body: dict[str, Any], parsed: dict[str, str]) -> dict[str, str]:
    """What the caller asked for, by Places component name: the given ``QueryComponents`` first,
    then what the geocoder read out of ``QueryText``."""
    asked = dict(parsed)
    for member, value in (body.get("QueryComponents") or {}).items():
        if value:
            asked[member] = value
    return asked


def parsed_text(parse: Any) -> dict[str, str]:
    """The geocoder's reading of a free-form query (its ``_Components``), by Places name."""
    found: dict[str, str] = {}
    if parse.address_line:
        split = _STREET_LINE.fullmatch(parse.address_line)
        if split:
            found["AddressNumber"], found["Street"] = split.groups()
        else:
            found["Street"] = parse.address_line
    for member, value in (
        ("Locality", parse.locality),
        ("Region", parse.admin_district),
        ("PostalCode", parse.postal_code),
        ("Country", parse.country_region),
    ):
        if value:
            found[member] = value
    return found


# -- result items ----------------------------------------------------------------------------------


def result_item(response: GeocodeResponse, gazetteer: Gazetteer) -> dict[str, Any] | None:
    """The members both operations share; None for an entity type Places has no name for."""
    place_type = PLACE_TYPES.get(response.entity_type or "")
    if place_type is None or response.point is None:
        return None
    address = _address(response.address or Address(), gazetteer)
    position = [float(response.point.longitude), float(response.point.latitude)]
    item: dict[str, Any] = {
        "PlaceId": place_id(place_type, position, address["Label"]),
        "PlaceType": place_type,
        "Title": address["Label"],
        "Address": address,
        "Position": position,
    }
    box = response.bounding_box
    if box is not None:
        item["MapView"] = [
            float(box.west_longitude),
            float(box.south_latitude),
            float(box.east_longitude),
            float(box.north_latitude),
        ]
    return item


def place_id(place_type: str, position: list[float], label: str) -> str:
    """Opaque and deterministic: the same place always gets the same id."""
    key = f"{place_type}|{position[0]:.6f}|{position[1]:.6f}|{label}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def match_scores(
    response: GeocodeResponse, item: dict[str, Any], asked: dict[str, str], gazetteer: Gazetteer
) -> dict[str, Any]:
    codes = {c.strip() for c in (response.match_codes or "").split(",")}
    confidence = response.confidence or "Low"
    overall = OVERALL_SCORES.get(confidence, OVERALL_SCORES["Low"])
    if confidence == "High" and "UpHierarchy" in codes:
        overall = HIGH_UP_HIERARCHY_SCORE
    components = {
        member: 1.0 if _component_matches(member, value, item["Address"], gazetteer) else 0.0
        for member, value in asked.items()
        if member != "Street"  # the model has no Street score (its Intersection stands in)
    }
    scores: dict[str, Any] = {"Overall": overall}
    if components:
        scores["Components"] = {"Address": components}
    return scores


def parsed_query(query_text: str, parsed: dict[str, str]) -> dict[str, Any] | None:
    """``ParsedQuery``: where each component read from the query sits in ``QueryText``."""
    address: dict[str, list[dict[str, Any]]] = {}
    for member, value in parsed.items():
        # Whole words only: the "WA" of "Redmond, WA" is not the start of "Way".
        found = re.search(rf"(?<!\w){re.escape(value)}(?!\w)", query_text, re.IGNORECASE)
        if found is None:
            continue  # the geocoder normalised the text (spacing): no honest index to give
        start, end = found.span()
        address[member] = [
            {
                "StartIndex": start,
                "EndIndex": end,
                "Value": query_text[start:end],
                "QueryComponent": "Query",
            }
        ]
    return {"Address": address} if address else None


def distance_metres(position: list[float], other: list[float]) -> int:
    return round(1000 * distance_km(position[1], position[0], other[1], other[0]))


def in_countries(item: dict[str, Any], iso2_codes: set[str]) -> bool:
    return (item["Address"].get("Country") or {}).get("Code2") in iso2_codes


# -- helpers ---------------------------------------------------------------------------------------


def _address(address: Address, gazetteer: Gazetteer) -> dict[str, Any]:
    iso2 = gazetteer.country_code(address.country_region)
    country_name = gazetteer.country_names.get(iso2 or "", address.country_region)
    out: dict[str, Any] = {"Label": _label(address.formatted_address, country_name)}
    if iso2:
        country = {"Code2": iso2, "Name": country_name}
        if iso2 in gazetteer.country_iso3:
            country["Code3"] = gazetteer.country_iso3[iso2]
        out["Country"] = country
    if address.admin_district:
        state = address.admin_district if iso2 == US else None
        if state in gazetteer.state_names:
            out["Region"] = {"Code": state, "Name": gazetteer.state_names[state]}
        else:
            out["Region"] = {"Name": address.admin_district}
    if address.admin_district2:
        # Bing writes counties "King Co."; Places names them as the county itself ("King").
        out["SubRegion"] = {"Name": _COUNTY_SUFFIX.sub("", address.admin_district2)}
    if address.locality:
        out["Locality"] = address.locality
    if address.neighborhood:
        out["District"] = address.neighborhood
    if address.postal_code:
        out["PostalCode"] = address.postal_code
    if address.address_line:
        split = _STREET_LINE.fullmatch(address.address_line)
        if split and len(split.group(1)) <= 10:
            out["AddressNumber"], out["Street"] = split.groups()
        else:
            out["Street"] = address.address_line
    return out


def _label(formatted: str | None, country_name: str | None) -> str:
    """Places labels end with the country ("Denver, CO, United States"); Bing's do not."""
    label = formatted or ""
    if country_name and not label.endswith(country_name):
        label = f"{label}, {country_name}" if label else country_name
    return label[:200]


def _component_matches(
    member: str, value: str, address: dict[str, Any], gazetteer: Gazetteer
) -> bool:
    wanted = fold(value)
    if member == "Country":
        code2 = (address.get("Country") or {}).get("Code2")
        return code2 is not None and gazetteer.country_code(value) == code2
    if member == "Region":
        region = address.get("Region") or {}
        code = gazetteer.state_code(value)
        return wanted == fold(region.get("Name")) or (
            code is not None and code == region.get("Code")
        )
    if member == "SubRegion":
        name = (address.get("SubRegion") or {}).get("Name")
        return bool(name) and fold(_COUNTY_SUFFIX.sub("", value)) == fold(name)
    if member == "PostalCode":
        code = address.get("PostalCode") or ""
        return bool(code) and fold(value)[:5] == fold(code)[:5]
    return bool(wanted) and wanted == fold(address.get(member))
