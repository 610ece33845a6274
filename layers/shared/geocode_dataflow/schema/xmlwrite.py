"""Writing the XML format of Data Schema v2.0 (and 1.0, see ``schema.v1``), streaming.

Attributes are written in the service's serializer order (§4.5), always double-quoted, with
whitespace kept as character references; characters XML cannot carry are replaced by U+FFFD
and counted, so that a conversion can say what it changed.
"""

from __future__ import annotations

import re
from typing import BinaryIO
from xml.sax.saxutils import escape

from geocode_dataflow.schema import v1
from geocode_dataflow.schema.columns import ADDRESS_FIELDS
from geocode_dataflow.schema.model import Address, GeocodeEntity, GeocodePoint
from geocode_dataflow.schema.text import Utf8Writer

NAMESPACE = "http://schemas.microsoft.com/search/local/2010/5/geocode"
# 2.0 Address attribute names written differently in 1.0.
V1_ADDRESS_NAMES = {v2: name for name, v2 in v1.ADDRESS_RENAMES.items()}

# Characters XML 1.0 cannot carry, even as references (C0 controls but TAB, LF and CR; the
# two non-characters; lone surrogates). The writer replaces them with U+FFFD and counts them,
# so that a conversion reports what it changed.
NOT_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


_ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _attr(name: str, value: str | None) -> str:
    if value is None or value == "":
        return ""
    # Always double quotes (quoteattr would switch to single ones), and whitespace kept as
    # character references so that attribute-value normalisation does not turn it into spaces.
    return f' {name}="{escape(value, _ATTR_ENTITIES)}"'


def _flag(name: str, value: bool | None) -> str:
    # The service's echo writes true and drops false/unspecified (Q33).
    return f' {name}="true"' if value else ""


def _number(name: str, value: int | None) -> str:
    return "" if value is None else f' {name}="{int(value)}"'


def _text_element(name: str, value: str | None) -> str:
    if value is None:
        return ""
    body = escape(value, {"\r": "&#13;"})
    return f"    <{name}>{body}</{name}>\n"


def _address_element(address: Address | None, indent: str) -> str:
    if address is None:
        return ""
    attrs = "".join(_attr(name, getattr(address, field)) for name, field in ADDRESS_FIELDS.items())
    return f"{indent}<Address{attrs} />\n"


def _confidence(value: str | None, indent: str) -> str:
    return (
        ""
        if value is None
        else f"{indent}<ConfidenceFilter{_attr('MinimumConfidence', value)} />\n"
    )


def entity_xml(entity: GeocodeEntity) -> tuple[str, int]:
    """One ``<GeocodeEntity>`` element, attributes in the service's serializer order (§4.5),
    and how many characters of its values XML cannot carry were replaced by U+FFFD."""
    xml, replaced = NOT_XML_CHARS.subn("\ufffd", _entity_markup(entity))
    return xml, replaced


def _requests_markup(entity: GeocodeEntity, *, v1_names: bool = False) -> list[str]:
    """The entity's requests as the service echoes them: attributes in its serializer order
    (§4.5; 1.0's order differs, and 1.0 has no StrictMatch), empty ones dropped, booleans as
    ``true``, the Address in the version's names (``v1_names``: 1.0)."""
    parts = []
    reverse = entity.reverse_geocode_request
    if reverse is not None:
        culture = _attr("Culture", reverse.culture)
        types = _attr("IncludeEntityTypes", reverse.include_entity_types)
        parts.append(
            "    <ReverseGeocodeRequest"
            + (types + culture if v1_names else culture + types)
            + _flag("IncludeNeighborhood", reverse.include_neighborhood)
            + _number("MaxResults", reverse.max_results)
        )
        location = _attr("Latitude", reverse.latitude) + _attr("Longitude", reverse.longitude)
        children = (f"      <Location{location} />\n" if location else "") + _confidence(
            reverse.min_confidence, "      "
        )
        parts.append(f">\n{children}    </ReverseGeocodeRequest>\n" if children else " />\n")
    forward = entity.geocode_request
    if forward is not None:
        neighborhood = _flag("IncludeNeighborhood", forward.include_neighborhood)
        query_parse = _flag("IncludeQueryParse", forward.include_query_parse)
        options = (
            neighborhood + query_parse + _number("MaxResults", forward.max_results)
            + _attr("Query", forward.query)
            if v1_names
            else neighborhood + _number("MaxResults", forward.max_results)
            + _attr("Query", forward.query) + query_parse
            + _flag("StrictMatch", forward.strict_match)
        )  # fmt: skip
        opening = "    <GeocodeRequest" + _attr("Culture", forward.culture) + options
        address = _v1_address if v1_names else _address_element
        children = address(forward.address, "      ") + _confidence(
            forward.min_confidence, "      "
        )
        parts.append(
            f"{opening}>\n{children}    </GeocodeRequest>\n" if children else f"{opening} />\n"
        )
    return parts


def _entity_markup(entity: GeocodeEntity) -> str:
    parts = [f"  <GeocodeEntity{_attr('Id', entity.id)}>\n", *_requests_markup(entity)]
    for response in entity.responses:
        parts.append(
            "    <GeocodeResponse"
            + _attr("Name", response.name)
            + _attr("EntityType", response.entity_type)
            + _attr("Confidence", response.confidence)
            + _attr("MatchCodes", response.match_codes)
            + ">\n"
        )
        parts.append(_address_element(response.address, "      "))
        for point in response.geocode_points:
            parts.append(
                "      <GeocodePoint"
                + _attr("CalculationMethod", point.calculation_method)
                + _attr("Latitude", point.latitude)
                + _attr("Longitude", point.longitude)
                + _attr("Type", point.type)
                + _attr("UsageTypes", point.usage_types)
                + " />\n"
            )
        for pair in response.query_parse_values:
            pair_attrs = _attr("Property", pair.property) + _attr("Value", pair.value)
            parts.append(f"      <QueryParseValue{pair_attrs} />\n")
        box = response.bounding_box
        if box is not None:
            parts.append(
                "      <BoundingBox"
                + _attr("SouthLatitude", box.south_latitude)
                + _attr("WestLongitude", box.west_longitude)
                + _attr("NorthLatitude", box.north_latitude)
                + _attr("EastLongitude", box.east_longitude)
                + " />\n"
            )
        if response.point is not None:
            point_attrs = _attr("Latitude", response.point.latitude) + _attr(
                "Longitude", response.point.longitude
            )
            parts.append(f"      <Point{point_attrs} />\n")
        parts.append("    </GeocodeResponse>\n")
    parts.append(_text_element("StatusCode", entity.status_code))
    parts.append(_text_element("FaultReason", entity.fault_reason))
    parts.append(_text_element("TraceId", entity.trace_id))
    parts.append("  </GeocodeEntity>\n")
    return "".join(parts)


def _v1_address(address: Address | None, indent: str) -> str:
    if address is None:
        return ""
    attrs = "".join(
        _attr(V1_ADDRESS_NAMES.get(name, name), getattr(address, field))
        for name, field in ADDRESS_FIELDS.items()
        if name != "Landmark"
    )
    return f"{indent}<Address{attrs} />\n"


def _v1_location(name: str, point: GeocodePoint | None) -> str:
    if point is None:
        return ""
    return f"      <{name}{_attr('Latitude', point.latitude)}{_attr('Longitude', point.longitude)} />\n"


def _v1_entity_markup(entity: GeocodeEntity) -> str:
    """A 1.0 ``<GeocodeEntity>``: requests echoed, then one ``GeocodeResponse`` per result
    carrying the entity's status (Address first, the point element second: the Power BI
    client reads the point by position), or a bare one with the status when there is none."""
    parts = [
        f"  <GeocodeEntity{_attr('Id', entity.id)}>\n",
        *_requests_markup(entity, v1_names=True),
    ]
    status = _attr("StatusCode", entity.status_code) + _attr("FaultReason", entity.fault_reason)
    for response in entity.responses:
        parts.append(
            "    <GeocodeResponse"
            + _attr("DisplayName", response.name)
            + _attr("EntityType", response.entity_type)
            + _attr("Confidence", response.confidence)
            + status
            + ">\n"
        )
        parts.append(_v1_address(response.address, "      "))
        roof, inter = v1.points(response)
        parts.append(_v1_location("RooftopLocation", roof))
        parts.append(_v1_location("InterpolatedLocation", inter))
        for pair in response.query_parse_values:
            pair_attrs = _attr("Property", pair.property) + _attr("Value", pair.value)
            parts.append(f"      <QueryParseValue{pair_attrs} />\n")
        parts.append("    </GeocodeResponse>\n")
    if not entity.responses and status:
        parts.append(f"    <GeocodeResponse{status} />\n")
    parts.append("  </GeocodeEntity>\n")
    return "".join(parts)


class XmlFeedWriter:
    """Writes an XML feed entity by entity, as UTF-8 without BOM; ``version`` 2.0 or 1.0."""

    def __init__(self, sink: BinaryIO, version: str = "2.0") -> None:
        self._out = Utf8Writer(sink)
        self._markup = _v1_entity_markup if version == v1.VERSION else _entity_markup
        self._out.write('<?xml version="1.0" encoding="utf-8"?>\n')
        if version == v1.VERSION:
            self._out.write(f'<GeocodeFeed xmlns="{NAMESPACE}">\n')
        else:
            self._out.write(f'<GeocodeFeed Version="2.0" xmlns="{NAMESPACE}">\n')

    def write(self, entity: GeocodeEntity) -> int:
        """Write ``entity``; return how many characters were replaced by U+FFFD."""
        xml, replaced = NOT_XML_CHARS.subn("\ufffd", self._markup(entity))
        self._out.write(xml)
        return replaced

    def finish(self) -> None:
        self._out.write("</GeocodeFeed>\n")
        self._out.flush()

    def flush(self) -> None:
        self._out.flush()
