"""Result rows shaped like the service's beyond what the geocoder answers (protocol reference
§6): per-entity TraceIds, and the Display + Route points of address-level matches.

The service's per-entity TraceIds have four ``|``-separated parts, the last naming a scheduler
and an instance with ``", "`` between them (``hex|CO30275937|7.7.0.0|CO3SCH010265403,
i-0786d9da24f280a87.us-west-2a``), so the TraceId cell of a text result must be quoted in csv
and in pipe files. Its Address matches carry two GeocodePoints: the Display point, then a Route
point on the street (CalculationMethod Interpolation) a few metres away.
"""

from __future__ import annotations

import hashlib
import re

from geocode_dataflow.schema import GeocodeEntity, GeocodePoint, GeocodeResponse

from .envelopes import SERVICE_VERSION

ADDRESS = "Address"
# The Route point of the service's examples is 2.4e-5 degrees (about 3 m) off the Display one.
ROUTE_OFFSET_DEGREES = 0.000024
_HOUSE_NUMBER = re.compile(r"\s*\d+[A-Za-z]?\s+\S")


def entity_trace_id(node: str, basis: str) -> str:
    """A TraceId of the service's per-entity form, derived from ``basis`` so that the same
    entity of the same file gets the same one in every run (results are reproducible)."""
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()
    scheduler = f"{node[:3].upper()}SCH{int(digest[32:40], 16) % 10**9:09d}"
    instance = f"i-0{digest[40:56]}.emulator-1a"
    return f"{digest[:32]}|{node}|{SERVICE_VERSION}|{scheduler}, {instance}"


def add_route_points(entity: GeocodeEntity, *, street_requests: bool) -> None:
    """Give address-level matches of ``entity`` the service's Route point after their Display
    point. Address-level: an ``Address`` match; with ``street_requests`` (the ``route-points``
    quirk) also any match of a request naming a street, because the offline geocoder never
    claims an Address match and clients reading GeocodePoints need the shape to test on."""
    street = street_requests and _names_a_street(entity)
    for response in entity.responses:
        if response.entity_type == ADDRESS or street:
            _add_route_point(response)


def _names_a_street(entity: GeocodeEntity) -> bool:
    request = entity.geocode_request
    if request is None:
        return False
    if request.address is not None and request.address.address_line:
        return True
    return bool(request.query and _HOUSE_NUMBER.match(request.query))


def _add_route_point(response: GeocodeResponse) -> None:
    points = response.geocode_points
    if len(points) != 1 or points[0].usage_types != "Display":
        return  # already has its Route point (or is not a plain Display point)
    display = points[0]
    shifted = min(float(display.latitude) + ROUTE_OFFSET_DEGREES, 90.0)
    latitude = f"{shifted:.7f}".rstrip("0")
    points.append(GeocodePoint(latitude, display.longitude, "Interpolation", "Point", "Route"))
