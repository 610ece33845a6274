"""Data Schema 1.0, the schema real clients still send: read into the v2.0 model, written back.

1.0 is the original schema (see ../shared/docs/dataflow-schema-1.0.md). Its files are told
apart from 2.0 by what they lack: an XML ``GeocodeFeed`` without ``Version``, a text file
without the ``Bing Spatial Data Services, 2.0`` line (and without a header: 31 fields by
position). Reading maps 1.0 onto the v2.0 model (``District`` is ``AdminDistrict2``,
``DisplayName`` is ``Name``, a response's ``StatusCode``/``FaultReason`` are the entity's,
``RooftopLocation`` / ``InterpolatedLocation`` are ``GeocodePoint`` s); writing maps back,
so that a 1.0 upload gets 1.0 results, as from the service. What one version cannot carry of
the other is listed by ``losses``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from geocode_dataflow.schema import columns as col
from geocode_dataflow.schema.detect import DELIMITERS
from geocode_dataflow.schema.model import GeocodeEntity, GeocodePoint, GeocodeResponse, Point
from geocode_dataflow.schema.text import LINE_TERMINATOR, Utf8Writer, replace_surrogates

VERSION = "1.0"

# The four point cells of a 1.0 row have no v2.0 column; these names stand for them.
ROOFTOP_LATITUDE = "RooftopLocation/Latitude"
ROOFTOP_LONGITUDE = "RooftopLocation/Longitude"
INTERPOLATED_LATITUDE = "InterpolatedLocation/Latitude"
INTERPOLATED_LONGITUDE = "InterpolatedLocation/Longitude"

# The 31 fields of a 1.0 text row, by position, as v2.0 text columns (§3.2 of the notes).
FIELDS: tuple[str, ...] = (
    col.ID,
    col.CULTURE,
    col.QUERY,
    *(f"GeocodeRequest/Address/{part}" for part in col.REQUEST_ADDRESS_PARTS),
    col.MIN_CONFIDENCE,
    *(f"GeocodeResponse/Address/{part}" for part in col.REQUEST_ADDRESS_PARTS),
    ROOFTOP_LATITUDE,
    ROOFTOP_LONGITUDE,
    INTERPOLATED_LATITUDE,
    INTERPOLATED_LONGITUDE,
    col.CONFIDENCE,
    col.NAME,
    col.ENTITY_TYPE,
    col.STATUS_CODE,
    col.FAULT_REASON,
    col.LATITUDE,
    col.LONGITUDE,
)
assert len(FIELDS) == 31  # noqa: S101 - the schema's count

# 1.0 XML attribute names of an Address that differ from 2.0's.
ADDRESS_RENAMES = {"District": "AdminDistrict2"}
# The first cell of a header row some 1.0 writers add (the toolkit skips one).
_HEADER_IDS = ("id", "geocodeentity/@id")
# A culture as 1.0 rows carry it (en-US, de-de); a bare "fr" is also a header's word.
_CULTURE = re.compile(r"[A-Za-z]{2,3}[-_][A-Za-z0-9]{2,8}")

# Calculation methods of the 1.0 point elements, both ways.
_ROOFTOP_METHODS = ("Rooftop", "ParcelCentroid")
_INTERPOLATED_METHODS = ("Interpolation", "InterpolationOffset")


def is_header_row(cells: Sequence[str]) -> bool:
    """A 1.0 header row (``GeocodeEntity/@Id|...`` or ``Id|...``), skipped when reading."""
    return bool(cells) and cells[0].strip().lower() in _HEADER_IDS


def _second_field_is_culture(cells: Sequence[str]) -> bool:
    """1.0 rows have a culture or nothing second; a table's header has a column name."""
    second = cells[1].strip() if len(cells) > 1 else ""
    return not second or _CULTURE.fullmatch(second) is not None


def looks_like_record(cells: Sequence[str], delimiter: str) -> bool:
    """Whether the first row of a text file without a version line, which no plain table's
    mapping could use, is 1.0 data: a short pipe row whose second field is empty or a culture
    (``0||Main St``: Id, no culture, query, as the Perl client sends). Only pipe: a comma or
    tab header such as ``Name,,Notes`` is a table's that maps to nothing, and is refused."""
    return (
        delimiter == "|"
        and 3 <= len(cells) <= _MAX_FIELDS
        and bool(cells[0].strip())
        and _second_field_is_culture(cells)
        and bool(cells[2].strip())
    )


# The samples pad rows with a few empty fields beyond the 31.
_MAX_FIELDS = 40


def first_line_kind(line: str, by_name: str | None) -> str | None:
    """``"header"`` when the first line of a text file is a 1.0 header row, ``"row"`` when it
    is a whole 1.0 row (31 fields, or a few more), else None (not decided here). A whole row is
    read as data even where its values look like the names of a plain table's columns
    (``Address``, ``London``): it has an Id first and empty fields among the 31, which no
    table's header has."""
    fmt = delimiter_format(line, by_name)
    try:
        cells = next(csv.reader([line.rstrip("\r\n")], delimiter=DELIMITERS[fmt]))
    except (csv.Error, StopIteration):
        return None
    whole = len(FIELDS) <= len(cells) <= _MAX_FIELDS
    if is_header_row(cells) and (cells[0].strip().lower() != "id" or whole):
        return "header"  # "Id,..." short is a v2.0 header without its version line
    if (
        whole
        and bool(cells[0].strip())
        and not is_header_row(cells)
        and _second_field_is_culture(cells)
        and not all(cell.strip() for cell in cells[1 : len(FIELDS)])
    ):
        return "row"
    return None


def delimiter_format(first_row: str, by_name: str | None) -> str:
    """csv / tab / pipe for a 1.0 text file: the name if it says, else the commonest delimiter
    of the first row (a 1.0 row has 30 of them)."""
    if by_name in DELIMITERS:
        return by_name  # type: ignore[return-value]
    counts = {fmt: first_row.count(delimiter) for fmt, delimiter in DELIMITERS.items()}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else "csv"


# -- reading ---------------------------------------------------------------------------------


def rooftop(latitude: str, longitude: str) -> GeocodePoint:
    return GeocodePoint(latitude, longitude, "Rooftop", "Point", "Display")


def interpolated(latitude: str, longitude: str, *, route: bool) -> GeocodePoint:
    """``route``: a rooftop point exists, which is then the display point."""
    return GeocodePoint(
        latitude, longitude, "Interpolation", "Point", "Route" if route else "Display"
    )


def add_text_points(entity: GeocodeEntity, cells: Mapping[str, str]) -> None:
    """The point cells (20-23) of a 1.0 row as the response's GeocodePoints and Point."""
    roof = (cells.get(ROOFTOP_LATITUDE), cells.get(ROOFTOP_LONGITUDE))
    inter = (cells.get(INTERPOLATED_LATITUDE), cells.get(INTERPOLATED_LONGITUDE))
    if not any(roof) and not any(inter):
        return
    if not entity.responses:
        entity.responses.append(GeocodeResponse())
    response = entity.responses[0]
    if roof[0] and roof[1]:
        response.geocode_points.append(rooftop(roof[0], roof[1]))
    if inter[0] and inter[1]:
        response.geocode_points.append(
            interpolated(inter[0], inter[1], route=bool(roof[0] and roof[1]))
        )
    if response.geocode_points and response.point is None:
        first = response.geocode_points[0]
        response.point = Point(first.latitude, first.longitude)


# -- writing ---------------------------------------------------------------------------------


def points(response: GeocodeResponse) -> tuple[GeocodePoint | None, GeocodePoint | None]:
    """(rooftop, interpolated) for a 1.0 response: the first point of each kind of calculation,
    a display point preferred; a point of no known kind (or only a Point) is the rooftop one."""

    def first(methods: tuple[str, ...]) -> GeocodePoint | None:
        found = [p for p in response.geocode_points if p.calculation_method in methods]
        display = [p for p in found if "Display" in (p.usage_types or "")]
        return (display or found or [None])[0]

    roof, inter = first(_ROOFTOP_METHODS), first(_INTERPOLATED_METHODS)
    if roof is None and inter is None:
        if response.geocode_points:
            roof = response.geocode_points[0]
        elif response.point is not None:
            roof = GeocodePoint(response.point.latitude, response.point.longitude)
    return roof, inter


def text_row(entity: GeocodeEntity) -> list[str]:
    """The 31 fields of ``entity`` as a 1.0 row: requests echoed, the first response, the
    status; the culture left empty on a reverse row, as the service does (V1-Q5)."""
    cells = col.entity_to_cells(entity)
    if entity.geocode_request is None and entity.reverse_geocode_request is not None:
        cells.pop(col.CULTURE, None)
    if entity.responses:
        roof, inter = points(entity.responses[0])
        for point, (lat, lon) in (
            (roof, (ROOFTOP_LATITUDE, ROOFTOP_LONGITUDE)),
            (inter, (INTERPOLATED_LATITUDE, INTERPOLATED_LONGITUDE)),
        ):
            if point is not None:
                cells[lat], cells[lon] = point.latitude, point.longitude
    return [cells.get(name, "") for name in FIELDS]


class TextFeedWriter:
    """Writes 1.0 text: no version line, no header, 31 fields a row, UTF-8, CRLF."""

    def __init__(self, sink: BinaryIO, fmt: str) -> None:
        self._text = Utf8Writer(sink)
        self._csv = csv.writer(
            self._text,
            delimiter=DELIMITERS[fmt],
            quotechar='"',
            quoting=csv.QUOTE_MINIMAL,
            lineterminator=LINE_TERMINATOR,
        )

    def write(self, entity: GeocodeEntity) -> int:
        row = text_row(entity)
        replaced = replace_surrogates(row)
        self._csv.writerow(row)
        return replaced

    def finish(self) -> None:
        self._text.flush()

    flush = finish


def losses(entity: GeocodeEntity, *, text: bool) -> list[str]:
    """What writing ``entity`` as 1.0 drops, in words (``text``: the 31-field rows)."""
    dropped: list[str] = []
    forward, reverse = entity.geocode_request, entity.reverse_geocode_request
    if forward is not None and forward.strict_match is not None:
        dropped.append("GeocodeRequest StrictMatch")
    if entity.trace_id:
        dropped.append("TraceId")
    for response in entity.responses[:1] if text else entity.responses:
        if response.match_codes:
            dropped.append("GeocodeResponse MatchCodes")
        if response.bounding_box is not None:
            dropped.append("GeocodeResponse BoundingBox")
        if response.address is not None and response.address.landmark:
            dropped.append("GeocodeResponse Address Landmark")
        roof, inter = points(response)
        if len(response.geocode_points) > (roof is not None) + (inter is not None):
            dropped.append("GeocodePoints beyond one rooftop and one interpolated point")
    if text:
        if reverse is not None and forward is None and reverse.culture:
            dropped.append("ReverseGeocodeRequest Culture (1.0 text leaves it empty)")
        if len(entity.responses) > 1:
            dropped.append(f"{len(entity.responses) - 1} GeocodeResponse(s) after the first")
        for request, kind in ((forward, "GeocodeRequest"), (reverse, "ReverseGeocodeRequest")):
            if request is not None and (request.max_results or request.include_neighborhood):
                dropped.append(f"{kind} MaxResults / IncludeNeighborhood (XML only)")
        if reverse is not None and reverse.include_entity_types:
            dropped.append("ReverseGeocodeRequest IncludeEntityTypes (XML only)")
        if entity.responses and entity.responses[0].query_parse_values:
            dropped.append("QueryParseValues (XML only)")
        if (
            entity.responses
            and entity.responses[0].address is not None
            and entity.responses[0].address.neighborhood
        ):
            dropped.append("GeocodeResponse Address Neighborhood (XML only)")
    return list(dict.fromkeys(dropped))
