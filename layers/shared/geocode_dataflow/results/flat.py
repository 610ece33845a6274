"""One geocoded entity as flat result columns, and whether it matched.

``matched``: the provider found the place and gave coordinates we could read; ``no_match``:
it answered Success with nothing usable (no result, or coordinates out of range); ``failed``:
the entity is in the failed set (its FaultReason says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geocode_dataflow.schema import GeocodeEntity, GeocodePoint, GeocodeResponse

MATCHED = "matched"
NO_MATCH = "no_match"
FAILED = "failed"

RESULT_COLUMNS: tuple[str, ...] = (
    "latitude",
    "longitude",
    "match_status",
    "confidence",
    "entity_type",
    "match_codes",
    "calculation_method",
    "formatted_address",
    "address_line",
    "locality",
    "admin_district",
    "admin_district2",
    "postal_code",
    "country_region",
    "neighborhood",
    "fault_reason",
)
# Text a provider wrote (never the user's own cells): see ``neutralise``.
PROVIDER_TEXT = frozenset(RESULT_COLUMNS) - {"latitude", "longitude", "match_status"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class MatchResult:
    status: str
    values: tuple[str, ...]  # in RESULT_COLUMNS order, as the provider wrote them
    latitude: float | None = None
    longitude: float | None = None
    confidence: str = ""
    entity_type: str = ""


def neutralise(value: str) -> str:
    """A provider's text that a spreadsheet would run as a formula gets a leading apostrophe
    in results.csv. Only text the provider wrote is touched (an address it returned); the
    user's own columns are written exactly as they were uploaded.
    """
    if value.startswith(_FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _coordinate(text: str | None, bound: float) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and -bound <= value <= bound else None


def _display_point(response: GeocodeResponse) -> tuple[str | None, str | None, str | None]:
    """(latitude, longitude, calculation method): the Point, else the Display geocode point."""
    points: list[GeocodePoint] = list(response.geocode_points)
    display = next((p for p in points if "Display" in (p.usage_types or "")), None)
    chosen = display or (points[0] if points else None)
    method = chosen.calculation_method if chosen else None
    if response.point is not None:
        return response.point.latitude, response.point.longitude, method
    if chosen is not None:
        return chosen.latitude, chosen.longitude, method
    return None, None, None


def flatten(entity: GeocodeEntity | None, *, failed: bool = False) -> MatchResult:
    """The result columns of ``entity`` (None: the provider returned nothing for the row)."""
    if entity is None:
        return _unmatched(FAILED, "The provider returned no result for this row.")
    if failed or (entity.status_code or "Success") != "Success":
        return _unmatched(FAILED, entity.fault_reason or "The provider could not geocode it.")
    response = entity.responses[0] if entity.responses else None
    if response is None:
        return _unmatched(NO_MATCH, "")
    lat_text, lon_text, method = _display_point(response)
    latitude, longitude = _coordinate(lat_text, 90.0), _coordinate(lon_text, 180.0)
    if latitude is None or longitude is None:
        reason = "" if lat_text is None else "The provider returned coordinates out of range."
        return _unmatched(NO_MATCH, reason)
    address = response.address
    parts = {
        "latitude": lat_text.strip() if lat_text else "",
        "longitude": lon_text.strip() if lon_text else "",
        "match_status": MATCHED,
        "confidence": response.confidence or "",
        "entity_type": response.entity_type or "",
        "match_codes": response.match_codes or "",
        "calculation_method": method or "",
        "formatted_address": (address.formatted_address if address else None) or "",
        "address_line": (address.address_line if address else None) or "",
        "locality": (address.locality if address else None) or "",
        "admin_district": (address.admin_district if address else None) or "",
        "admin_district2": (address.admin_district2 if address else None) or "",
        "postal_code": (address.postal_code if address else None) or "",
        "country_region": (address.country_region if address else None) or "",
        "neighborhood": (address.neighborhood if address else None) or "",
        "fault_reason": "",
    }
    values = tuple(parts[c] for c in RESULT_COLUMNS)
    return MatchResult(
        MATCHED,
        values,
        latitude,
        longitude,
        confidence=response.confidence or "",
        entity_type=response.entity_type or "",
    )


def _unmatched(status: str, reason: str) -> MatchResult:
    values = tuple(
        status if c == "match_status" else reason if c == "fault_reason" else ""
        for c in RESULT_COLUMNS
    )
    return MatchResult(status, values)
