"""The screen: is an entity, as read, certainly one ``check_entity`` finds nothing wrong with?

``validate_feed`` must judge every entity, and building a ``GeocodeEntity`` (three or four
objects) and running ``checks.check_entity`` on it costs more than reading the entity. Most
entities of a real file are plain: one request, an address or query, a Culture, perhaps a
MinimumConfidence. The screen answers for those from what the readers hold anyway (an XML
entity's attribute dicts, a text row's trimmed cells) in a few operations that run in C;
everything else is built and checked in full.

The screen may turn away an entity that is fine (it is then built and checked: the same answer,
slower), never pass one that ``check_entity`` would find something in. Its tests hold it to
that over generated entities (tests/unit/schema/test_screen.py).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from itertools import chain, compress, repeat
from typing import Any

from geocode_dataflow.schema import columns as col
from geocode_dataflow.schema.checks import CONFIDENCE_VALUES, is_coordinate
from geocode_dataflow.schema.model import GeocodeEntity


class PlainRun:
    """Consecutive entities the screen vouched for, handed to the validator at once: their
    lines, Ids (trimmed, never empty) and kinds. Readers append to the three lists."""

    __slots__ = ("lines", "ids", "kinds")

    # A run is handed over when it is this long, or when an entity the screen turned away (or
    # the end of the file, or an error) comes.
    SIZE = 1024

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.ids: list[str] = []
        self.kinds: list[str] = []


# What a reader yields for validation: a PlainRun, or (line, Id, kind, entity) for an entity the
# screen turned away, built, to be checked.
Scanned = PlainRun | tuple[int | None, str | None, str, GeocodeEntity]

# Request attributes that alone cannot make a finding (MaxResults and the flags can).
PLAIN_FORWARD_ATTRS = frozenset({"Culture", "Query"})
PLAIN_REVERSE_ATTRS = frozenset({"Culture", "IncludeEntityTypes"})
# Address attributes that count as an address field (FormattedAddress is a finding; Landmark
# and Neighborhood are left to check_entity).
_ADDRESS_INPUT_ATTRS = frozenset(
    {"AddressLine", "AdminDistrict", "CountryRegion", "AdminDistrict2", "Locality",
     "PostalCode", "PostalTown"}
)  # fmt: skip
_CONFIDENCE_OK = frozenset({None, "", *CONFIDENCE_VALUES})
# A value a spreadsheet may run as a formula starts (after spaces) with one of these; values
# are joined with line ends and searched at once. A false alarm (a value holding a line end,
# a number such as -1) only sends the entity to check_entity.
_FORMULA_START = re.compile(r"^\s*[-=+@]", re.MULTILINE)
_starts_formula = operator.methodcaller("startswith", ("=", "+", "-", "@"))


def xml_entity_is_plain(entity: Any) -> bool:
    """For the XML reader's raw entity (``xmlfeed._RawEntity``): attribute dicts as read."""
    forward, reverse = entity.forward, entity.reverse
    if reverse is None:
        if forward is None or not forward.keys() <= PLAIN_FORWARD_ATTRS:
            return False
        confidence = entity.forward_confidence
        if confidence is not None and confidence.get("MinimumConfidence") not in _CONFIDENCE_OK:
            return False
        query = forward.get("Query")
        values = [entity.id or "", query or ""]
        has_field = bool(query and query.strip())
        address = entity.address
        if address is not None:
            if not address.keys() <= _ADDRESS_INPUT_ATTRS:
                return False
            values += address.values()
            has_field = has_field or bool("".join(address.values()).strip())
        return has_field and _plain_values(values, forward.get("Culture"))
    if forward is not None or not reverse.keys() <= PLAIN_REVERSE_ATTRS:
        return False
    confidence = entity.reverse_confidence
    if confidence is not None and confidence.get("MinimumConfidence") not in _CONFIDENCE_OK:
        return False
    location = entity.location
    if location is None:
        return False
    if not (
        is_coordinate(location.get("Latitude"), 90.0)
        and is_coordinate(location.get("Longitude"), 180.0)
    ):
        return False
    return _plain_values(
        [entity.id or "", reverse.get("IncludeEntityTypes") or ""], reverse.get("Culture")
    )


def _plain_values(values: list[str], culture: str | None) -> bool:
    """No value would be run as a formula (the Culture, whose '-' is inside, on its own)."""
    if culture is not None and _starts_formula(culture.lstrip()):
        return False
    joined = "|".join(values)
    if "=" in joined or "+" in joined or "@" in joined:
        return False
    return "-" not in joined or _FORMULA_START.search("\n".join(values)) is None


# Text rows are screened as the csv module returns them, the cells joined once. A row with a
# character that is not printable (NUL, a tab, a line end in a quoted cell, a no-break space:
# every whitespace but the space is one) or a cell starting with a space is turned away, so in
# every other row a cell is empty exactly when it is empty once trimmed, and starts as it does
# once trimmed. In request rows, any '=', '+' or '@', or a cell starting with '-', is left to
# check_entity (formula-injection); reverse rows look at the cells that matter, since their
# coordinates start with '-'.


class RowPlan:
    """What the screen needs of rows whose non-empty cells are in given columns.

    Which cells are empty decides most of what ``check_entity`` looks at (the request kind,
    whether there is an address field); a plan is made once per such shape, and ``passes``
    checks the few values that remain.
    """

    __slots__ = ("kind", "_confidence", "_formula", "_latitude", "_longitude")

    def __init__(
        self,
        kind: str,
        confidence: int | None,
        formula: list[int] | None = None,
        latitude: int = 0,
        longitude: int = 0,
    ) -> None:
        self.kind = kind
        self._confidence = confidence
        self._formula = _cells(formula or [])
        self._latitude = latitude
        self._longitude = longitude

    def passes(self, row: Sequence[str]) -> bool:
        """``row``: the cells as the csv module returned them, exactly as wide as the header."""
        joined = "|".join(row)
        # A quoted cell keeps its leading spaces (skipinitialspace skips them only outside
        # quotes): such a cell, or one of spaces only, is not as it is once trimmed.
        if not joined.isprintable() or "| " in joined or joined.startswith(" "):
            return False
        if self.kind == "geocode":
            if (
                "=" in joined
                or "+" in joined
                or "@" in joined
                or "|-" in joined
                or joined.startswith("-")
            ):
                return False
        elif any(map(_starts_formula, self._formula(row))) or not (
            is_coordinate(row[self._latitude], 90.0) and is_coordinate(row[self._longitude], 180.0)
        ):
            return False
        return self._confidence is None or row[self._confidence] in _CONFIDENCE_OK


def _cells(indexes: list[int]) -> Any:
    """A function of a row returning the cells at ``indexes`` as a tuple."""
    if len(indexes) == 1:
        index = indexes[0]
        return lambda row: (row[index],)
    return operator.itemgetter(*indexes) if indexes else lambda row: ()


_PLAN_CACHE = 1024
_UNPLANNED: Any = object()
_KINDS = ("geocode", "reverse")  # by ``reverse``, a bool
# Coordinates most files write (decimal degrees, no exponent, no sign but '-'), within bounds:
# a subset of what ``is_coordinate`` accepts, matched over a whole batch at once. A batch
# whose coordinates do not all match is checked value by value.
LATITUDE_PATTERN = r"-?(?:[0-8]?[0-9](?:\.[0-9]+)?|90(?:\.0+)?)"
LONGITUDE_PATTERN = r"-?(?:(?:1[0-7][0-9]|[0-9]?[0-9])(?:\.[0-9]+)?|180(?:\.0+)?)"
_LATITUDES = re.compile(rf"(?:{LATITUDE_PATTERN}\n)*{LATITUDE_PATTERN}")
_LONGITUDES = re.compile(rf"(?:{LONGITUDE_PATTERN}\n)*{LONGITUDE_PATTERN}")


_CONTROL_BYTES = bytes(range(32)) + b"\x7f"


def _printable(text: str) -> bool:
    """``text.isprintable()``, three times as fast for ASCII text (the usual case)."""
    if text.isascii():
        return len(text.encode("ascii").translate(None, _CONTROL_BYTES)) == len(text)
    return text.isprintable()


def _coordinates(values: list[str], pattern: re.Pattern[str], bound: float) -> bool:
    return pattern.fullmatch("\n".join(values)) is not None or all(
        map(is_coordinate, values, repeat(bound))
    )


class RowScreen:
    """The screen for the rows of one text header (``names``: canonical column names).

    ``plans`` maps which cells of a row are non-empty (``tuple(map(bool, row))``) to its plan
    (None: rows of that shape are built and checked); ``plan`` fills it. ``batch`` screens
    many rows at once, in C-level passes over all of them.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self._names = list(names)
        self.plans: dict[tuple[bool, ...], RowPlan | None] = {}
        at = {name: index for index, name in enumerate(self._names) if name}
        # For ``batch``, which looks at the cells column by column.
        self._id = at.get(col.ID)
        self._confidence = at.get(col.MIN_CONFIDENCE)
        # Filled anywhere, these send the batch row by row (rows with them have no plan).
        self._poison = [
            index
            for name, index in at.items()
            if name in (col.STRICT_MATCH, col.FORMATTED_ADDRESS) or name in col.RESPONSE_COLUMN_SET
        ]
        # What makes a row a geocode row: a Query or an address cell (the forward-only
        # columns left once StrictMatch and FormattedAddress are out).
        self._forward = [
            index
            for name, index in at.items()
            if name in col.FORWARD_ONLY_COLUMNS and index not in self._poison
        ]
        self._latitude = at.get(col.LATITUDE)
        self._longitude = at.get(col.LONGITUDE)
        self._entity_types = at.get(col.ENTITY_TYPES)
        coordinates = {self._latitude, self._longitude}
        self._text = [index for index in at.values() if index not in coordinates]
        self._coordinates = [index for index in at.values() if index in coordinates]

    def batch(self, rows: list[list[str]]) -> list[str] | None:
        """The kinds of ``rows`` when the screen vouches for every one of them, else None
        (then some may still pass ``RowPlan.passes`` one by one).

        ``rows``: as the csv module returned them, each exactly as wide as the header's named
        columns. The decisions of ``plan`` and ``RowPlan.passes``, made column by column over
        the batch (``zip(*rows)``, then searches of whole columns, all in C); where a row-wise
        rule would need a loop, a stricter column-wise one stands in (a TraceId starting with
        '=' in a reverse row sends the batch row by row, where that row passes).
        """
        cols = list(zip(*rows))  # noqa: B905 - equal widths; strict= costs 3x here
        if (
            self._id is None
            or not all(cols[self._id])
            or any(map(any, map(cols.__getitem__, self._poison)))
        ):
            return None
        # Reverse rows are those with a Latitude; they need a Longitude, and IncludeEntityTypes
        # only in them. Every other row needs a Query or an address cell, and reverse rows none.
        if self._latitude is None or self._longitude is None:
            # A lone coordinate column: its rows have no plan.
            reverse = [False] * len(rows)
            lone = [*self._coordinates, self._entity_types]
            if any(any(cols[index]) for index in lone if index is not None):
                return None
        else:
            reverse = list(map(bool, cols[self._latitude]))
            if reverse != list(map(bool, cols[self._longitude])):
                return None
            if self._entity_types is not None and any(
                map(operator.gt, map(bool, cols[self._entity_types]), reverse)
            ):
                return None
        if not self._has_forward_cell(cols, reverse):
            return None
        # Every cell is printable (no line end, tab or NUL: each whitespace but the space is
        # not) and starts with no space; none but a coordinate starts with a formula
        # character, or holds '=', '+' or '@' (a cell boundary is a '|').
        # (Coordinates are matched whole as numbers below, which says as much of them.)
        text = "|".join(chain.from_iterable(map(cols.__getitem__, self._text)))
        if not _printable(text) or "| " in text or text.startswith(" "):
            return None
        if "=" in text or "+" in text or "@" in text or "|-" in text or text.startswith("-"):
            return None
        if self._confidence is not None and not _CONFIDENCE_OK.issuperset(cols[self._confidence]):
            return None
        if any(reverse):  # (only with both coordinate columns)
            if not (
                _coordinates(list(filter(None, cols[self._latitude])), _LATITUDES, 90.0)
                and _coordinates(list(filter(None, cols[self._longitude])), _LONGITUDES, 180.0)
            ):
                return None
        return list(map(_KINDS.__getitem__, reverse))

    def _has_forward_cell(self, cols: list[tuple[str, ...]], reverse: list[bool]) -> bool:
        """Each row but the reverse ones has a Query or an address cell; reverse rows none."""
        forward = list(map(cols.__getitem__, self._forward))
        if not forward:
            return all(reverse)
        if any(reverse):
            at = list(compress(range(len(reverse)), reverse))  # the reverse rows
            if any(any(map(column.__getitem__, at)) for column in forward):
                return False
            wanted = list(map(operator.not_, reverse))
        elif any(map(all, forward)):
            return True  # the common case: a column filled in every row (AddressLine, Query)
        else:
            wanted = [True] * len(reverse)
        if any(all(compress(column, wanted)) for column in forward):
            return True
        return list(map(any, zip(*forward))) == wanted  # noqa: B905 - columns of one batch

    def plan_of(self, filled: tuple[bool, ...]) -> RowPlan | None:
        """The plan for rows of this shape, from ``plans`` or made (``plan``)."""
        plan = self.plans.get(filled, _UNPLANNED)
        return self.plan(filled) if plan is _UNPLANNED else plan

    def plan(self, filled: tuple[bool, ...]) -> RowPlan | None:
        plan = self._make(filled)
        if len(self.plans) < _PLAN_CACHE:
            self.plans[filled] = plan
        return plan

    def _make(self, filled: tuple[bool, ...]) -> RowPlan | None:
        at = {name: index for index, name in enumerate(self._names) if name and filled[index]}
        present = at.keys()
        if col.STRICT_MATCH in present or not col.RESPONSE_COLUMN_SET.isdisjoint(present):
            return None
        if col.ID not in present:
            return None
        has_reverse = not col.REVERSE_ONLY_COLUMNS.isdisjoint(present)
        has_forward = not col.FORWARD_ONLY_COLUMNS.isdisjoint(present)
        confidence = at.get(col.MIN_CONFIDENCE)
        if has_reverse and not has_forward:
            if col.LATITUDE not in present or col.LONGITUDE not in present:
                return None
            formula = [at[name] for name in (col.ID, col.CULTURE, col.ENTITY_TYPES) if name in at]
            return RowPlan("reverse", confidence, formula, at[col.LATITUDE], at[col.LONGITUDE])
        if has_forward and not has_reverse:
            if col.FORMATTED_ADDRESS in present:
                return None
            if col.QUERY not in present and col.REQUEST_ADDRESS_COLUMN_SET.isdisjoint(present):
                return None
            # Every other cell of such a row is a request value, MinimumConfidence (one of
            # three words) or a StatusCode / FaultReason / TraceId: the whole row is searched.
            return RowPlan("geocode", confidence)
        return None
