"""Plain XML entities recognised by their text, so that expat reads them with no Python handler.

A validated feed is mostly entities such as::

    <GeocodeEntity Id="E1">
      <GeocodeRequest Culture="en-US">
        <Address AddressLine="1 Harbour Road" Locality="Seaview" PostalCode="98000" />
        <ConfidenceFilter MinimumConfidence="Medium" />
      </GeocodeRequest>
    </GeocodeEntity>

For each, the element handlers (``xmlfeed._EntityBuilder``) cost several times what expat's
own parse does, only to find what ``screen.xml_entity_is_plain`` then vouches for. The pattern
here says the same of the entity's text in one regular-expression match: the text split at
each ``<GeocodeEntity`` is a list of pieces, one entity each, and a piece that matches
``PLAIN_ENTITY`` whole is an entity the builder would read and the screen pass, with the Id
and kind the match gives. ``xmlfeed.XmlFeedParser`` feeds a run of such pieces to expat with
the element handlers removed, expat still judging whether the bytes are well-formed XML.

The pattern is stricter than the screen, never looser: it takes attribute values with no
character reference, tab or line end (whose value expat would change), none starting with a
space or a formula character, none holding ``=``, ``+`` or ``@``; attributes in double or
single quotes, without spaces around ``=``; elements without a prefix, comments or processing
instructions. Anything else is read by the handlers, as before (tests/unit/schema/
test_xml_plain.py holds the two to the same reports).
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, repeat

from geocode_dataflow.schema.screen import LATITUDE_PATTERN, LONGITUDE_PATTERN
from geocode_dataflow.schema.text import MAX_FIELD_CHARS

ENTITY_TAG = "<GeocodeEntity"

_S = "[ \t\r\n]"  # XML's white space, between attributes and elements


def _quoted(value: str, *, group: bool = False) -> str:
    """``value`` (a pattern of characters other than ``{quote}``) in double or single quotes;
    with ``group``, a capture of each."""
    double, single = value.format(quote='"'), value.format(quote="'")
    if group:
        double, single = f"({double})", f"({single})"
    return f"(?:\"{double}\"|'{single}')"


# A value the screen passes whatever the attribute: no leading space or formula character, no
# '=', '+', '@' (nor '<' or '&', which XML escapes, nor a tab or line end, which expat turns
# into spaces), and not empty (a blank Id, Query or address has findings).
_VALUE_CHARS = r"[^\s{quote}<&=+@-][^{quote}<&\t\n\r=+@]*"
_VALUE = _quoted(_VALUE_CHARS)


def _attribute(*names: str) -> str:
    return rf"(?:{_S}+(?:{'|'.join(names)})={_VALUE})"


def _empty_element(name: str, attributes: str) -> str:
    """``<name attributes/>`` or ``<name attributes></name>``."""
    return rf"<{name}{attributes}{_S}*(?:/>|>{_S}*</{name}>)"


_ADDRESS = _empty_element(
    "Address",
    # (AdminDistrict2 before AdminDistrict; the '=' after the name keeps them apart anyway)
    _attribute(
        "AddressLine", "AdminDistrict2", "AdminDistrict", "CountryRegion", "Locality",
        "PostalCode", "PostalTown",
    ) + "+",
)  # fmt: skip
_CONFIDENCE = _empty_element(
    "ConfidenceFilter", rf"{_S}+MinimumConfidence={_quoted('(?:High|Medium|Low)')}"
)
_LATITUDE = rf"Latitude={_quoted(LATITUDE_PATTERN)}"
_LONGITUDE = rf"Longitude={_quoted(LONGITUDE_PATTERN)}"
_LOCATION = _empty_element(
    "Location", rf"{_S}+(?:{_LATITUDE}{_S}+{_LONGITUDE}|{_LONGITUDE}{_S}+{_LATITUDE})"
)
_CULTURE = rf"(?:{_attribute('Culture')})?"


def _children(first: str, second: str, *, required: bool) -> str:
    """The children of a request in either order, each at most once: ``first`` with or
    without ``second``; unless ``required``, also ``second`` alone, or neither."""
    both = rf"{first}{_S}*(?:{second}{_S}*)?|{second}{_S}*"
    if required:
        return rf"{_S}*(?:{both}{first}{_S}*)"
    return rf"{_S}*(?:{both}(?:{first}{_S}*)?)?"


# A forward request needs a Query or an address: with a Query its children are optional (and
# it may close itself); without one, an Address is required.
_FORWARD = (
    rf"<GeocodeRequest(?:{_CULTURE}{_attribute('Query')}{_CULTURE}{_S}*"
    rf"(?:/>|>{_children(_ADDRESS, _CONFIDENCE, required=False)}</GeocodeRequest>)"
    rf"|{_CULTURE}{_S}*>{_children(_ADDRESS, _CONFIDENCE, required=True)}</GeocodeRequest>)"
)
_REVERSE = (
    rf"<(R)everseGeocodeRequest(?:{_attribute('Culture', 'IncludeEntityTypes')})*{_S}*>"
    rf"{_children(_LOCATION, _CONFIDENCE, required=True)}</ReverseGeocodeRequest>"
)
# One piece: what follows ``<GeocodeEntity`` up to the next one (the entity's end and the white
# space after it). Groups 1 and 2: the Id as written in double or single quotes; group 3: 'R'
# for a reverse request.
PLAIN_ENTITY = re.compile(
    rf"{_S}+Id={_quoted(_VALUE_CHARS, group=True)}{_S}*>"
    rf"{_S}*(?:{_FORWARD}|{_REVERSE}){_S}*</GeocodeEntity>{_S}*"
)

_KINDS = {"": "geocode", "R": "reverse"}
_GROUPS = operator.methodcaller("groups", "")  # as findall gives them: "" for no match
# The same entity found anywhere in a run of pieces, and only where the next piece starts.
_PLAIN_ENTITIES = re.compile(f"{ENTITY_TAG}{PLAIN_ENTITY.pattern}(?={ENTITY_TAG}|\\Z)")

Groups = tuple[str, str, str]  # PLAIN_ENTITY's groups 1, 2 and 3 ("": not in the match)


def plain_groups(pieces: list[str]) -> list[Groups | None]:
    """For each piece (the text after a ``<GeocodeEntity``), the groups of its match, or
    None when the builder is to read it. A piece longer than ``MAX_FIELD_CHARS`` is left to
    the builder, which bounds the length of its values.

    The pieces but the last (which a chunk often cuts short) are searched at once: when the
    search finds as many entities as there are pieces, each piece is one (a match starts at a
    piece's ``<GeocodeEntity`` and ends where the next begins). Otherwise piece by piece.
    """
    if not pieces:
        return []
    body = pieces[:-1]
    if max(map(len, pieces)) <= MAX_FIELD_CHARS:
        found: list[Groups | None] = _PLAIN_ENTITIES.findall(ENTITY_TAG + ENTITY_TAG.join(body))
        if len(found) == len(body):
            last = PLAIN_ENTITY.fullmatch(pieces[-1])
            found.append(None if last is None else _GROUPS(last))
            return found
    return [
        None if match is None or len(piece) > MAX_FIELD_CHARS else _GROUPS(match)
        for piece, match in zip(pieces, map(PLAIN_ENTITY.fullmatch, pieces), strict=True)
    ]


class PlainPieces:
    """The entities of consecutive plain pieces, as the validator needs them (``PlainRun``):
    their Ids, kinds and lines; and ``text``, the pieces as written, for expat."""

    __slots__ = ("ids", "kinds", "lines", "text")

    def __init__(self, pieces: list[str], groups: list[Groups], line: int) -> None:
        """``line``: the line of the first piece's ``<GeocodeEntity``."""
        doubled, single, reverse = zip(*groups, strict=True)
        # The Id is in double quotes (group 1) or single (group 2); trimmed as the builder
        # trims it (it starts with no space, and may end with some).
        ids = doubled if "" not in doubled else map(_either, doubled, single)
        self.ids = list(map(str.strip, ids))
        self.kinds = list(map(_KINDS.__getitem__, reverse))
        self.lines = list(accumulate(_line_ends(pieces), initial=line))
        self.lines.pop()  # (the line after the last piece)
        self.text = ENTITY_TAG + ENTITY_TAG.join(pieces)

    def elements(self) -> int:
        """Elements in the run: every '<' starts one, unless it ends one ('</'). (No comment,
        CDATA section or processing instruction is in a plain piece, and no '<' in a value.)"""
        return self.text.count("<") - self.text.count("</")


def _either(doubled: str, single: str) -> str:
    return doubled or single


def _line_ends(pieces: list[str]) -> list[int]:
    """Line ends in each piece, counted as expat counts them: a CR LF pair, a lone CR and a
    lone LF are one each."""
    newlines = list(map(str.count, pieces, repeat("\n")))
    if not any(map(operator.contains, pieces, repeat("\r"))):
        return newlines
    returns = map(str.count, pieces, repeat("\r"))
    pairs = map(str.count, pieces, repeat("\r\n"))
    return list(map(operator.sub, map(operator.add, newlines, returns), pairs))
