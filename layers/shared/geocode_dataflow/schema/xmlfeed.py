"""Reading the XML format of Data Schema v2.0, streaming (writing: ``schema.xmlwrite``).

Reading pushes chunks into defusedxml's parser (DTDs, entity declarations and external
references are refused before anything is expanded or fetched) whose element events build one
``GeocodeEntity`` at a time, so no element tree ever accumulates. Elements are matched by
local name: the namespace is expected but a file without it (or with another) still reads, and
attribute and element order do not matter.

Sizes are bounded so that a corrupt or hostile file fails fast instead of slowly: an attribute
value or element text longer than ``MAX_FIELD_CHARS`` (the text formats' cell limit) is a
file-level error, and so is any single token (a tag with its attributes, a comment, a
processing instruction) still incomplete after ``MAX_TOKEN_BYTES``. The latter matters for
time, not memory: expat before 2.6 re-scans an incomplete token from its start on every chunk
fed, so one token of n bytes costs O(n^2) (50 MB: minutes) unless parsing stops early.

Structure is bounded the same way, each check a counter in the element handlers: nesting
deeper than ``MAX_XML_DEPTH`` (the schema needs 4 levels), more than ``MAX_ENTITY_ELEMENTS``
elements in one entity, and more than ``MAX_SKIPPED_ELEMENTS`` elements skipped unread in the
file (unknown elements with their content, and second copies of elements the schema allows
once) are file-level errors: a small gzip file can otherwise inflate into millions of them.
Remarks that repeat (the same unknown attribute on every entity) are made once per element
and attribute set and counted by the caller (``validate_feed`` reports them once, with a count).

For validation (``screen``), entities whose text ``schema.xmlplain``'s pattern recognises as
plain are read by expat with no element handler at all, in runs, and only their Ids, kinds
and lines are handed over; the handlers read the rest.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO
from xml.etree.ElementTree import ParseError

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml.ElementTree import DefusedXMLParser

from geocode_dataflow.schema import v1
from geocode_dataflow.schema.columns import ADDRESS_FIELDS, parse_bool
from geocode_dataflow.schema.detect import version_name, version_problem
from geocode_dataflow.schema.issues import FeedError, Issue, IssueHandler, too_many_elements
from geocode_dataflow.schema.model import (
    Address,
    BoundingBox,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Point,
    QueryParseValue,
    ReverseGeocodeRequest,
)
from geocode_dataflow.schema.screen import (
    PLAIN_FORWARD_ATTRS,
    PLAIN_REVERSE_ATTRS,
    PlainRun,
    Scanned,
    xml_entity_is_plain,
)
from geocode_dataflow.schema.text import MAX_FIELD_CHARS
from geocode_dataflow.schema.xmlplain import ENTITY_TAG, Groups, PlainPieces, plain_groups
from geocode_dataflow.schema.xmlwrite import NAMESPACE

READ_CHUNK = 1 << 16
# Far above any legitimate tag (a geocode element has at most ~20 short attributes), far below
# what makes expat < 2.6 slow: fed READ_CHUNK at a time, a token this size is re-scanned ~16
# times, ~8 MiB of scanning in all (milliseconds), where a 300 MB one would take minutes.
MAX_TOKEN_BYTES = 1 << 20
# Data Schema v2.0 needs 4 levels (GeocodeFeed/GeocodeEntity/GeocodeResponse/GeocodePoint); the
# rest is room for unknown (skipped) subtrees. expat and the path cost memory per level.
MAX_XML_DEPTH = 32
# The largest entity the service writes (20 responses of ~15 elements) has ~320 elements.
MAX_ENTITY_ELEMENTS = 1_000
# Unknown elements (every element of their subtrees) and repeated once-only elements.
MAX_SKIPPED_ELEMENTS = 10_000
# A tag naming more undefined attributes than this lists only the first ones in its remark.
_LISTED_ATTRIBUTES = 5
# Distinct remark texts kept for reuse; beyond, remarks are built anew (still bounded by tags).
_REMARK_CACHE = 1_000

_GEOCODE_REQUEST_ATTRS = frozenset(
    {"Culture", "Query", "IncludeNeighborhood", "IncludeQueryParse", "MaxResults", "StrictMatch"}
)
_REVERSE_REQUEST_ATTRS = frozenset(
    {"Culture", "IncludeEntityTypes", "IncludeNeighborhood", "MaxResults"}
)
_RESPONSE_ATTRS = frozenset({"Name", "EntityType", "Confidence", "MatchCodes"})
_POINT_ATTRS = frozenset({"CalculationMethod", "Latitude", "Longitude", "Type", "UsageTypes"})
_BOX_ATTRS = ("SouthLatitude", "WestLongitude", "NorthLatitude", "EastLongitude")
_TEXT_ELEMENTS = ("StatusCode", "FaultReason", "TraceId")
_ENTITY_ATTRS = frozenset({"Id"})
_ADDRESS_ATTRS = frozenset(ADDRESS_FIELDS)
_CONFIDENCE_ATTRS = frozenset({"MinimumConfidence"})
_LOCATION_ATTRS = frozenset({"Latitude", "Longitude"})
_PARSE_VALUE_ATTRS = frozenset({"Property", "Value"})
# Children of an entity the schema allows at most once (maxOccurs="1"); those of a request
# or response are Address, ConfidenceFilter, Location, BoundingBox and Point.
_ONCE_IN_ENTITY = frozenset({"GeocodeRequest", "ReverseGeocodeRequest", *_TEXT_ELEMENTS})
# Data Schema 1.0: children of an entity read as in 2.0 (the others: _start_v1_entity_child),
# and the attributes of its GeocodeResponse.
_V1_ENTITY_CHILDREN = frozenset({"GeocodeRequest", "ReverseGeocodeRequest"})
_V1_STATUS_ATTRS = frozenset({"StatusCode", "FaultReason"})
_NOTHING = GeocodeResponse()
_V1_RESPONSE_ATTRS = frozenset({"DisplayName", "EntityType", "Confidence", *_V1_STATUS_ATTRS})
_INTEGER = re.compile(r"[+-]?[0-9]+")  # xs:integer's lexical form: ASCII digits only
_MAX_RESULTS_DIGITS = 4  # beyond, int() may refuse the digits, and 1..20 is far anyway


def _split(name: str) -> tuple[str | None, str]:
    """expat's ``namespace}local`` -> (namespace, local)."""
    namespace, _, local = name.rpartition("}")
    return namespace or None, local


# Distinct element names whose split is remembered (a feed has a dozen; skipped subtrees may
# name many more, which are then split anew).
_NAME_CACHE = 256


class _ValueTooLongError(Exception):
    """An attribute value beyond ``MAX_FIELD_CHARS``; the caller adds the element and line."""

    def __init__(self, attribute: str) -> None:
        super().__init__(attribute)
        self.attribute = attribute


def _value(attrib: dict[str, str], name: str) -> str | None:
    """Attribute value trimmed, empty meaning absent (as in text cells, and as the service's
    echo drops empty attributes)."""
    raw = attrib.get(name)
    if raw is None:
        return None
    if len(raw) > MAX_FIELD_CHARS:
        raise _ValueTooLongError(name)
    value = raw.strip()
    return value or None


def _get(attrib: dict[str, str] | None, name: str) -> str | None:
    """``_value`` for attributes whose length was checked already (or need not be)."""
    if attrib is None:
        return None
    raw = attrib.get(name)
    return (raw.strip() or None) if raw is not None else None


def _quiet_bool(attrib: dict[str, str], name: str) -> bool | None:
    """A boolean attribute already reported if invalid: its value, or None."""
    value = _get(attrib, name)
    try:
        return None if value is None else parse_bool(value)
    except ValueError:
        return None


def _quiet_max_results(attrib: dict[str, str]) -> int | None:
    value = _get(attrib, "MaxResults")
    if value is None or _INTEGER.fullmatch(value) is None:
        return None
    if len(value.lstrip("+-").lstrip("0")) > _MAX_RESULTS_DIGITS:
        return None
    return int(value)


class _EntityBuilder:
    """expat handlers turning start/end/data events into finished entities in ``self.done``.

    Keeps only the entity being read and a path of element names, never a tree. The
    character-data handler is installed only inside the three text elements, so whitespace
    between elements costs no Python call.

    An entity's requests are kept as read (expat's attribute dicts) until the entity ends;
    everything wrong with them is reported as their elements start, from the dicts, so that
    nothing is built for an entity nobody asks for. At the end the reader gets a
    ``GeocodeEntity``; with ``screen`` set (``validate_feed``), a ``Scanned`` tuple instead,
    carrying the entity only when ``screen.xml_entity_is_plain`` cannot vouch for it.

    Attribute values longer than ``MAX_FIELD_CHARS`` are file-level errors. Measuring every
    value would cost more than the rest of the element's handling, so an entity's request
    values are measured only when the entity spans more than ``MAX_FIELD_CHARS`` bytes (no
    value can be longer than that without it), when the entity ends; response values (output
    files) and text are measured as they are read.
    """

    def __init__(
        self, on_issue: IssueHandler, max_elements: int | None = None, *, screen: bool = False
    ) -> None:
        self.on_issue = on_issue
        self.done: list[GeocodeEntity] | list[Scanned] = []
        self._screen = screen
        self.run = PlainRun()  # with ``screen``: plain entities not yet in ``done``
        self._elements = 0  # in the file so far
        self._max_elements = sys.maxsize if max_elements is None else max_elements
        self.version: str | None = None  # the Version attribute as written
        self.schema_version = "2.0"  # what the file is: "2.0", or "1.0" (no Version)
        self.v1 = False
        self.schema = "Data Schema v2.0"  # for messages
        self.on_version: Callable[[str], None] = lambda version: None
        self.namespace: str | None = None
        self.root_seen = False
        self.cdata = False  # inside a CDATA section (which expat reads in several events)
        self.expat: Any = None  # set by XmlFeedParser: where the parser is, read in hot paths
        # Set by XmlFeedParser: installs (or, with None, removes) the character-data handler.
        self.collect_text: Callable[[Callable[[str], None] | None], None] = lambda handler: None
        self._names: dict[str, tuple[str | None, str]] = {}
        self._path: list[str] = []
        self._skip_depth = 0  # >0 while inside an element we do not read
        self._skipped = 0  # elements skipped so far in the file
        self._remarks: dict[tuple[str, ...], str] = {}
        # The entity being read: None outside one.
        self._entity: _RawEntity | None = None
        self._entity_elements = 0
        self._entity_seen: set[str] = set()  # once-only children of the entity met so far
        self._parent_seen: set[str] = set()  # once-only children of the request/response
        self._open_child: str | None = None  # the request or response element being read
        self._response: GeocodeResponse | None = None
        self._text: list[str] | None = None
        self._text_chars = 0

    def between_entities(self) -> bool:
        """Inside the root, outside any entity, element it does not read or CDATA section."""
        return (
            len(self._path) == 1
            and self._entity is None
            and not self._skip_depth
            and not self.cdata
        )

    def start_cdata(self) -> None:
        self.cdata = True

    def end_cdata(self) -> None:
        self.cdata = False

    def elements_left(self) -> int:
        """Elements the file may still have (``max_elements``)."""
        return self._max_elements - self._elements

    def add_plain(self, pieces: PlainPieces, elements: int) -> None:
        """Entities ``xmlplain`` recognised, read by expat without the element handlers;
        ``elements_left`` had room for their ``elements``."""
        self._elements += elements
        run = self.run
        run.lines += pieces.lines
        run.ids += pieces.ids
        run.kinds += pieces.kinds
        if len(run.ids) >= PlainRun.SIZE:
            self.flush_run()

    def line(self) -> int:
        """expat's current line."""
        return self.expat.CurrentLineNumber if self.expat is not None else 0

    # -- reporting -------------------------------------------------------------------------
    def _issue(self, code: str, message: str, *, is_error: bool) -> None:
        entity_id = self._entity.id if self._entity is not None else None
        self.on_issue(Issue(code, message, line=self.line(), entity_id=entity_id), is_error)

    def _unknown_attrs(self, element: str, attrib: dict[str, str], known: frozenset[str]) -> None:
        if attrib.keys() <= known:
            return
        # Set operations and map() run in C: a tag with 100,000 undefined attributes costs
        # about as much as expat's own work on it, and makes one remark, not 100,000.
        if max(map(len, attrib.values())) > MAX_FIELD_CHARS:
            raise _ValueTooLongError(
                next(name for name, value in attrib.items() if len(value) > MAX_FIELD_CHARS)
            )
        # Namespaced (xsi:...) attributes are not ours to judge.
        names = [name for name in attrib if name not in known and "}" not in name]
        if not names:
            return
        listed = tuple(names[:_LISTED_ATTRIBUTES])
        key = (element, str(len(names)), *listed)
        message = self._remarks.get(key)
        if message is None:
            if len(names) == 1:
                message = (
                    f"<{element}> has an attribute {names[0]!r} that {self.schema} does not "
                    "define (names are case-sensitive); the service ignores it"
                )
            else:
                more = ", ..." if len(names) > len(listed) else ""
                message = (
                    f"<{element}> has {len(names):,} attributes that {self.schema} does not "
                    f"define ({', '.join(map(repr, listed))}{more}; names are case-sensitive); "
                    "the service ignores them"
                )
            if len(self._remarks) < _REMARK_CACHE:
                self._remarks[key] = message
        self._issue("unknown-attribute", message, is_error=False)

    def _check_bool(self, element: str, attrib: dict[str, str], name: str) -> None:
        value = _value(attrib, name)
        if value is None:
            return
        try:
            parse_bool(value)
        except ValueError as exc:
            self._issue("invalid-value", f"<{element} {name}>: {exc}", is_error=True)

    def _check_max_results(self, element: str, attrib: dict[str, str]) -> None:
        value = _value(attrib, "MaxResults")
        if value is None:
            return
        # int() would also take '1_0' and non-ASCII digits, which the service does not.
        if _INTEGER.fullmatch(value) is None:
            problem = "is not an integer (ASCII digits 0-9, e.g. 5)"
        elif len(value.lstrip("+-").lstrip("0")) > _MAX_RESULTS_DIGITS:
            problem = "is far outside 1..20"
        else:
            return
        self._issue(
            "invalid-value", f"<{element} MaxResults>: {value[:40]!r} {problem}", is_error=True
        )

    def _address(self, attrib: dict[str, str]) -> Address:
        self._unknown_attrs("Address", attrib, _ADDRESS_ATTRS)
        return _address(attrib, checked=False)

    def _required(
        self, element: str, attrib: dict[str, str], names: tuple[str, ...]
    ) -> list[str] | None:
        values = [_value(attrib, name) for name in names]
        if None in values:
            missing = ", ".join(n for n, v in zip(names, values, strict=True) if v is None)
            self._issue(
                "missing-attribute",
                f"<{element}> lacks {missing}; the element is ignored",
                is_error=False,
            )
            return None
        return values  # type: ignore[return-value]

    # -- expat handlers (names as ``namespace}local``, attributes as a dict) ----------------
    def start(self, name: str, attrib: dict[str, str]) -> None:
        path = self._path
        depth = len(path)
        if depth >= MAX_XML_DEPTH:
            raise FeedError(
                "too-deep",
                f"elements are nested more than {MAX_XML_DEPTH} deep (Data Schema v2.0 needs 4 "
                "levels); the file is probably corrupt or hostile",
                line=self.line(),
            )
        split = self._names.get(name)
        if split is None:
            split = _split(name)
            if len(self._names) < _NAME_CACHE:
                self._names[name] = split
        local = split[1]
        path.append(local)
        # Elements of an entity are added to the file's count when it ends (the per-entity
        # cap bounds the overshoot): one counter per element, not two.
        entity = self._entity
        if entity is None:
            self._elements += 1
            if self._elements > self._max_elements:
                raise too_many_elements(self._max_elements, self.line())
        else:
            self._entity_elements += 1
            if self._entity_elements > MAX_ENTITY_ELEMENTS:
                raise FeedError(
                    "entity-too-large",
                    f"the <GeocodeEntity> starting on line {entity.line} has more than "
                    f"{MAX_ENTITY_ELEMENTS:,} elements (the service writes at most ~320 for "
                    "one entity); the file is probably corrupt or hostile",
                    line=self.line(),
                    entity_id=entity.id,
                )
        if self._skip_depth:
            # Attributes of skipped elements are not checked: they are read from the tag,
            # whose size MAX_TOKEN_BYTES bounds, and dropped.
            self._skip_depth += 1
            self._count_skipped()
            return
        try:
            if depth == 2 and entity is not None:
                self._start_entity_child(local, attrib, entity)
            elif depth == 3:
                self._start_grandchild(local, attrib, entity)
            elif depth == 1:
                self._start_entity_level(local, attrib)
            elif depth == 0:
                self._start_feed(split[0], local, attrib)
            else:
                self._unknown_element(local)
        except _ValueTooLongError as exc:
            raise _too_long(f"<{local} {_split(exc.attribute)[1]}>", self.line()) from None

    def _count_skipped(self) -> None:
        self._skipped += 1
        if self._skipped > MAX_SKIPPED_ELEMENTS:
            raise FeedError(
                "too-many-skipped-elements",
                f"more than {MAX_SKIPPED_ELEMENTS:,} elements are not part of Data Schema v2.0 "
                "(unknown elements and everything inside them, or second copies of elements "
                "allowed once); the file is probably not a geocode feed",
                line=self.line(),
            )

    def _start_feed(self, namespace: str | None, local: str, attrib: dict[str, str]) -> None:
        if local != "GeocodeFeed":
            raise FeedError(
                "not-a-geocode-feed",
                f'the root element is <{local}>, expected <GeocodeFeed Version="2.0">',
                line=self.line(),
            )
        self.root_seen = True
        self.namespace = namespace
        self.version = attrib.get("Version")
        if self.version is not None and len(self.version) > MAX_FIELD_CHARS:
            raise _ValueTooLongError("Version")
        if self.version is None:
            # The service's rule: no Version is Data Schema 1.0.
            self.schema_version = v1.VERSION
        else:
            problem = version_problem(self.version)
            if problem is not None:
                raise FeedError(
                    "wrong-version",
                    f'<GeocodeFeed Version="{self.version}">: {problem} (write Version="2.0")',
                    line=self.line(),
                )
            self.schema_version = version_name(self.version)
        self.v1 = self.schema_version == v1.VERSION
        self.schema = f"Data Schema {self.schema_version}"
        self.on_version(self.schema_version)
        if namespace != NAMESPACE:
            self._issue(
                "namespace",
                f"<GeocodeFeed> is not in the namespace {NAMESPACE!r}"
                + (f" (found {namespace!r})" if namespace else " (no namespace)")
                + "; the service may not recognise the elements",
                is_error=False,
            )

    def _start_entity_level(self, local: str, attrib: dict[str, str]) -> None:
        if local != "GeocodeEntity":
            self._unknown_element(local)
            return
        raw = attrib.get("Id")
        if raw is not None and len(raw) > MAX_FIELD_CHARS:  # a self-closing entity spans 0
            raise _ValueTooLongError("Id")
        entity = self._entity = _RawEntity()
        entity.attrib = attrib
        entity.id = (raw.strip() or None) if raw is not None else None
        entity.line = self.expat.CurrentLineNumber
        entity.start = self.expat.CurrentByteIndex
        self._entity_elements = 0
        self._entity_seen.clear()
        if len(attrib) > 1 or raw is None:
            self._unknown_attrs("GeocodeEntity", attrib, _ENTITY_ATTRS)

    def _duplicate(self, local: str, parent: str) -> None:
        """A second copy of a child the schema allows once: an error, and skipped."""
        self._skip_depth = 1
        self._count_skipped()
        self._issue(
            "duplicate-element",
            f"<{parent}> has a second <{local}>; {self.schema} allows one (the second is "
            "ignored here, and the service may read either)",
            is_error=True,
        )

    def _start_entity_child(self, local: str, attrib: dict[str, str], entity: _RawEntity) -> None:
        seen = self._entity_seen
        if local in seen:
            self._duplicate(local, "GeocodeEntity")
            return
        if local in _ONCE_IN_ENTITY:
            seen.add(local)
        if self.v1 and local not in _V1_ENTITY_CHILDREN:
            self._start_v1_entity_child(local, attrib, entity)
            return
        if local == "GeocodeRequest":
            entity.forward = attrib
            if not attrib.keys() <= PLAIN_FORWARD_ATTRS:
                self._unknown_attrs(local, attrib, _GEOCODE_REQUEST_ATTRS)
                for flag in ("IncludeNeighborhood", "IncludeQueryParse"):
                    self._check_bool(local, attrib, flag)
                self._check_max_results(local, attrib)
                self._check_bool(local, attrib, "StrictMatch")
        elif local == "ReverseGeocodeRequest":
            entity.reverse = attrib
            if not attrib.keys() <= PLAIN_REVERSE_ATTRS:
                self._unknown_attrs(local, attrib, _REVERSE_REQUEST_ATTRS)
                self._check_bool(local, attrib, "IncludeNeighborhood")
                self._check_max_results(local, attrib)
        elif local == "GeocodeResponse":
            self._unknown_attrs(local, attrib, _RESPONSE_ATTRS)
            self._response = GeocodeResponse(
                name=_value(attrib, "Name"),
                entity_type=_value(attrib, "EntityType"),
                confidence=_value(attrib, "Confidence"),
                match_codes=_value(attrib, "MatchCodes"),
            )
            if not entity.responses:
                entity.responses = []
            entity.responses.append(self._response)
        elif local in _TEXT_ELEMENTS:
            self._text = []
            self._text_chars = 0
            self.collect_text(self.data)
            return
        else:
            self._unknown_element(local)
            return
        self._open_child = local
        self._parent_seen.clear()

    def _start_grandchild(
        self, local: str, attrib: dict[str, str], entity: _RawEntity | None
    ) -> None:
        parent = self._open_child
        # Only once-only children actually read are added to ``seen``: a second <Address> in a
        # GeocodeRequest is a duplicate, one in a ReverseGeocodeRequest an unknown element.
        seen = self._parent_seen
        if entity is None or parent is None or self._path[-2] != parent:
            self._unknown_element(local)
            return
        if local in seen:
            self._duplicate(local, parent)
            return
        if parent == "GeocodeRequest":
            if local == "Address":
                seen.add(local)
                if self.v1 and "District" in attrib:
                    attrib = _v1_address_attrs(attrib)
                entity.address = attrib
                if not attrib.keys() <= _ADDRESS_ATTRS:
                    self._unknown_attrs(local, attrib, _ADDRESS_ATTRS)
                return
            if local == "ConfidenceFilter":
                seen.add(local)
                entity.forward_confidence = attrib
                if not attrib.keys() <= _CONFIDENCE_ATTRS:
                    self._unknown_attrs(local, attrib, _CONFIDENCE_ATTRS)
                return
        elif parent == "ReverseGeocodeRequest":
            if local == "Location":
                seen.add(local)
                entity.location = attrib
                if not attrib.keys() <= _LOCATION_ATTRS:
                    self._unknown_attrs(local, attrib, _LOCATION_ATTRS)
                return
            if local == "ConfidenceFilter":
                seen.add(local)
                entity.reverse_confidence = attrib
                if not attrib.keys() <= _CONFIDENCE_ATTRS:
                    self._unknown_attrs(local, attrib, _CONFIDENCE_ATTRS)
                return
        elif self.v1:
            if self._start_v1_response_child(local, attrib, seen):
                return
        elif self._start_response_child(local, attrib, seen):
            return
        self._unknown_element(local)

    def _start_response_child(self, local: str, attrib: dict[str, str], seen: set[str]) -> bool:
        """Output files only: response parts are built as they are read."""
        response = self._response
        assert response is not None  # noqa: S101 - the open child is a GeocodeResponse
        if local == "Address":
            seen.add(local)
            response.address = self._address(attrib)
        elif local == "GeocodePoint":
            self._unknown_attrs(local, attrib, _POINT_ATTRS)
            both = self._required(local, attrib, ("Latitude", "Longitude"))
            if both is not None:
                response.geocode_points.append(
                    GeocodePoint(
                        latitude=both[0],
                        longitude=both[1],
                        calculation_method=_value(attrib, "CalculationMethod"),
                        type=_value(attrib, "Type"),
                        usage_types=_value(attrib, "UsageTypes"),
                    )
                )
        elif local == "QueryParseValue":
            self._unknown_attrs(local, attrib, _PARSE_VALUE_ATTRS)
            pair = self._required(local, attrib, ("Property", "Value"))
            if pair is not None:
                response.query_parse_values.append(QueryParseValue(*pair))
        elif local == "BoundingBox":
            seen.add(local)
            self._unknown_attrs(local, attrib, frozenset(_BOX_ATTRS))
            box = self._required(local, attrib, _BOX_ATTRS)
            if box is not None:
                response.bounding_box = BoundingBox(*box)
        elif local == "Point":
            seen.add(local)
            self._unknown_attrs(local, attrib, _LOCATION_ATTRS)
            both = self._required(local, attrib, ("Latitude", "Longitude"))
            if both is not None:
                response.point = Point(*both)
        else:
            return False
        return True

    # -- Data Schema 1.0 (``schema.v1``): responses of another shape -------------------------
    def _start_v1_entity_child(
        self, local: str, attrib: dict[str, str], entity: _RawEntity
    ) -> None:
        """A child of a 1.0 entity that 2.0 reads differently: a ``GeocodeResponse`` (status
        and display name as attributes), ``DataQuality`` (skipped: no 2.0 counterpart)."""
        if local == "DataQuality":
            self._skip_depth = 1
            return
        if local != "GeocodeResponse":
            self._unknown_element(local)
            return
        self._unknown_attrs(local, attrib, _V1_RESPONSE_ATTRS)
        # The entity's status is on every response in 1.0; the first one says it.
        if entity.status_code is None:
            entity.status_code = _value(attrib, "StatusCode")
            entity.fault_reason = _value(attrib, "FaultReason")
        # A response that turns out to hold nothing but the status (a failed entity's, or a
        # match-less one) is taken back when it ends (``end``).
        self._response = GeocodeResponse(
            name=_value(attrib, "DisplayName"),
            entity_type=_value(attrib, "EntityType"),
            confidence=_value(attrib, "Confidence"),
        )
        if not entity.responses:
            entity.responses = []
        entity.responses.append(self._response)
        self._open_child = local
        self._parent_seen.clear()

    def _start_v1_response_child(self, local: str, attrib: dict[str, str], seen: set[str]) -> bool:
        """A 1.0 response's child: its points as 1.0 writes them; Address (``District``
        renamed) and QueryParseValue as in 2.0."""
        if local in ("Address", "QueryParseValue"):
            if local == "Address":
                attrib = _v1_address_attrs(attrib)
            return self._start_response_child(local, attrib, seen)
        if local not in ("RooftopLocation", "InterpolatedLocation"):
            return False
        response = self._response
        assert response is not None  # noqa: S101 - the open child is a GeocodeResponse
        seen.add(local)
        self._unknown_attrs(local, attrib, _LOCATION_ATTRS)
        both = self._required(local, attrib, ("Latitude", "Longitude"))
        if both is None:
            return True
        points = response.geocode_points
        if local == "RooftopLocation":
            points.insert(0, v1.rooftop(*both))
            if points[1:]:  # the interpolated point came first: it is the route one now
                points[1].usage_types = "Route"
            response.point = Point(*both)
        else:
            points.append(v1.interpolated(*both, route=bool(points)))
            if response.point is None:
                response.point = Point(*both)
        return True

    def _unknown_element(self, local: str) -> None:
        self._skip_depth = 1
        self._count_skipped()
        where = "/".join(self._path[:-1])
        self._issue(
            "unknown-element",
            f"<{local}> inside {where} is not part of {self.schema}; it is ignored",
            is_error=False,
        )

    def data(self, text: str) -> None:
        if self._text is not None and not self._skip_depth:
            self._text.append(text)
            self._text_chars += len(text)
            if self._text_chars > MAX_FIELD_CHARS:
                raise _too_long(f"the text of <{self._path[-1]}>", self.line())

    def end(self, name: str) -> None:
        local = self._path.pop()
        if self._skip_depth:
            self._skip_depth -= 1
            return
        depth = len(self._path)
        entity = self._entity
        if depth == 1 and entity is not None:
            self._end_entity(entity)
        elif depth == 2 and entity is not None:
            if local == self._open_child:
                if self.v1 and self._response == _NOTHING:  # a 1.0 status alone
                    entity.responses.remove(self._response)  # type: ignore[union-attr]
                self._open_child = self._response = None
            elif self._text is not None:
                self.collect_text(None)
                value = "".join(self._text).strip() or None
                if local == "StatusCode":
                    entity.status_code = value
                elif local == "FaultReason":
                    entity.fault_reason = value
                else:
                    entity.trace_id = value
                self._text = None

    def _end_entity(self, entity: _RawEntity) -> None:
        self._elements += self._entity_elements
        if self._elements > self._max_elements:
            raise too_many_elements(self._max_elements, self.line())
        if self.expat.CurrentByteIndex - entity.start > MAX_FIELD_CHARS:
            entity.check_lengths()
        self._entity = None
        if not self._screen:
            self.done.append(entity.build())  # type: ignore[arg-type]
            return
        run = self.run
        if entity.id is not None and xml_entity_is_plain(entity):
            run.lines.append(entity.line)
            run.ids.append(entity.id)
            run.kinds.append("reverse" if entity.reverse is not None else "geocode")
            if len(run.ids) == PlainRun.SIZE:
                self.flush_run()
            return
        self.flush_run()
        self.done.append((entity.line, entity.id, entity.kind(), entity.build()))  # type: ignore[arg-type]

    def flush_run(self) -> None:
        """Hand the plain entities read so far over (``done``), before whatever comes next."""
        if self.run.ids:
            self.done.append(self.run)  # type: ignore[arg-type]
            self.run = PlainRun()

    def close(self) -> None:
        """Called by the parser at the end; entities are taken from ``done`` instead."""


class _RawEntity:
    """A ``<GeocodeEntity>`` as read: its requests as expat's attribute dicts (``None`` when
    absent), its responses and texts as built; ``build()`` makes the ``GeocodeEntity``.

    Class attributes are the defaults, so that starting an entity sets only what it has.
    """

    attrib: dict[str, str]
    id: str | None
    line: int
    start: int  # byte index of its start tag
    forward: dict[str, str] | None = None
    address: dict[str, str] | None = None
    forward_confidence: dict[str, str] | None = None
    reverse: dict[str, str] | None = None
    location: dict[str, str] | None = None
    reverse_confidence: dict[str, str] | None = None
    responses: list[GeocodeResponse] | tuple[()] = ()
    status_code: str | None = None
    fault_reason: str | None = None
    trace_id: str | None = None

    def kind(self) -> str:
        """``GeocodeEntity.kind``."""
        if self.reverse is not None:
            return "reverse"
        return "geocode" if self.forward is not None else "none"

    def check_lengths(self) -> None:
        """Raise ``value-too-long`` for the first request value over ``MAX_FIELD_CHARS``."""
        for element, attrib in (
            ("GeocodeEntity", self.attrib),
            ("GeocodeRequest", self.forward),
            ("Address", self.address),
            ("ConfidenceFilter", self.forward_confidence),
            ("ReverseGeocodeRequest", self.reverse),
            ("Location", self.location),
            ("ConfidenceFilter", self.reverse_confidence),
        ):
            for name, value in (attrib or {}).items():
                if len(value) > MAX_FIELD_CHARS:
                    raise _too_long(f"<{element} {_split(name)[1]}>", self.line)

    def build(self) -> GeocodeEntity:
        entity = GeocodeEntity(
            id=self.id,
            responses=list(self.responses),
            status_code=self.status_code,
            fault_reason=self.fault_reason,
            trace_id=self.trace_id,
            line=self.line,
        )
        forward = self.forward
        if forward is not None:
            entity.geocode_request = GeocodeRequest(
                culture=_get(forward, "Culture"),
                query=_get(forward, "Query"),
                address=None if self.address is None else _address(self.address, checked=True),
                min_confidence=_get(self.forward_confidence, "MinimumConfidence"),
                include_neighborhood=_quiet_bool(forward, "IncludeNeighborhood"),
                include_query_parse=_quiet_bool(forward, "IncludeQueryParse"),
                max_results=_quiet_max_results(forward),
                strict_match=_quiet_bool(forward, "StrictMatch"),
            )
        reverse = self.reverse
        if reverse is not None:
            entity.reverse_geocode_request = ReverseGeocodeRequest(
                latitude=_get(self.location, "Latitude"),
                longitude=_get(self.location, "Longitude"),
                culture=_get(reverse, "Culture"),
                include_entity_types=_get(reverse, "IncludeEntityTypes"),
                include_neighborhood=_quiet_bool(reverse, "IncludeNeighborhood"),
                max_results=_quiet_max_results(reverse),
                min_confidence=_get(self.reverse_confidence, "MinimumConfidence"),
            )
        return entity


def _address(attrib: dict[str, str], *, checked: bool) -> Address:
    """Only the attributes present (an address has a few of its ten): the others stay None.
    ``checked``: their lengths were measured already."""
    value = _get if checked else _value
    return Address(
        **{ADDRESS_FIELDS[name]: value(attrib, name) for name in attrib if name in _ADDRESS_ATTRS}
    )


def _v1_address_attrs(attrib: dict[str, str]) -> dict[str, str]:
    """A 1.0 Address's attributes under their 2.0 names (``District`` is ``AdminDistrict2``)."""
    return {v1.ADDRESS_RENAMES.get(name, name): value for name, value in attrib.items()}


def _too_long(what: str, line: int) -> FeedError:
    return FeedError(
        "value-too-long",
        f"{what} is longer than {MAX_FIELD_CHARS:,} characters: geocode fields are short; the "
        "file is probably corrupt",
        line=line,
    )


class XmlFeedParser:
    """Push parser: ``feed(text)`` returns the entities completed by that chunk.

    ``max_elements``: at most this many elements in the whole file (``too-many-elements``).
    ``screen``: return ``Scanned`` tuples instead of entities (see ``_EntityBuilder``).
    """

    def __init__(
        self, on_issue: IssueHandler, max_elements: int | None = None, *, screen: bool = False
    ) -> None:
        self.builder = _EntityBuilder(on_issue, max_elements, screen=screen)
        # The text was decoded already (whatever its encoding): expat gets it as UTF-8 bytes,
        # the encoding named here overriding any declaration in the document.
        self._parser = DefusedXMLParser(
            target=self.builder,
            encoding="utf-8",
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        self._fed = 0  # bytes given to expat so far
        # defusedxml guards the DTD/entity handlers of this expat parser; the element handlers
        # go straight to the builder instead of through ElementTree's tree-building layer,
        # which would only rebuild names and dicts we do not need.
        expat = self._parser.parser
        # Attributes as a dict built by expat, not ElementTree's flat list made into one here.
        expat.ordered_attributes = False
        expat.StartElementHandler = self.builder.start
        expat.EndElementHandler = self.builder.end
        # Character data costs a Python call only inside the three text elements (installed
        # there by the builder); elsewhere whitespace, comments and processing instructions
        # go to no handler at all. ElementTree's default handler only resolves entities of a
        # DTD, and DTDs are refused before any.
        expat.CharacterDataHandler = None
        expat.DefaultHandlerExpand = None
        # expat >= 2.6 may defer parsing a feed until more data comes, leaving its byte
        # index behind what was fed; every feed is parsed at once instead, as before 2.6
        # (MAX_TOKEN_BYTES bounds what re-reading an open token can cost).
        if hasattr(expat, "SetReparseDeferralEnabled"):
            expat.SetReparseDeferralEnabled(False)

        def collect_text(handler: Callable[[str], None] | None) -> None:
            expat.CharacterDataHandler = handler

        self.builder.collect_text = collect_text
        self.builder.expat = expat
        self._screen = screen
        if screen:
            # CDATA is the one construct expat reads in several events (its byte index moves
            # on inside one): the builder notes it, so that no plain run starts inside.
            expat.StartCdataSectionHandler = self.builder.start_cdata
            expat.EndCdataSectionHandler = self.builder.end_cdata

    def feed(self, text: str) -> list[GeocodeEntity]:
        if self._screen:
            self._feed_pieces(text)
        else:
            self._feed(text)
        return self._take()

    def _feed(self, text: str) -> None:
        data = text.encode("utf-8")
        self._fed += len(data)
        self._guard(self._parser.feed, data)
        self._check_pending()

    def _feed_pieces(self, text: str) -> None:
        """``text`` split at each ``<GeocodeEntity``: runs of plain pieces (``xmlplain``) go to
        expat without the element handlers, everything else through the builder.

        A run starts only where the builder is between entities and expat has read every
        byte fed so far, so that no piece is in a comment, a CDATA section, a tag or an
        entity the builder is reading; it ends at the first piece the pattern does not take.
        While a token is open (a comment, a processing instruction), the rest of the text is
        fed at once: expat before 2.6 reads an open token again from its start on each feed,
        and a comment holding thousands of ``<GeocodeEntity`` must cost one feed per chunk,
        as any other text does.
        """
        head, *pieces = text.split(ENTITY_TAG)
        if head:
            self._feed(head)
        groups = plain_groups(pieces)
        start, count = 0, len(pieces)
        while start < count:
            if self._parser.parser.CurrentByteIndex != self._fed:  # an open token
                self._feed(ENTITY_TAG + ENTITY_TAG.join(pieces[start:]))
                return
            if groups[start] is None or not self._between_entities():
                self._feed(ENTITY_TAG + pieces[start])
                start += 1
                continue
            try:
                end = groups.index(None, start)
            except ValueError:
                end = count
            self._feed_plain(pieces[start:end], groups[start:end])  # type: ignore[arg-type]
            start = end

    def _between_entities(self) -> bool:
        """Where a run may start (expat having read every byte fed, checked before)."""
        return self.builder.between_entities()

    def _feed_plain(self, pieces: list[str], groups: list[Groups]) -> None:
        expat = self._parser.parser
        plain = PlainPieces(pieces, groups, expat.CurrentLineNumber)
        elements = plain.elements()
        if elements > self.builder.elements_left():
            # The element limit falls in this run: the builder reads it, and stops there.
            self._feed(plain.text)
            return
        expat.StartElementHandler = expat.EndElementHandler = None
        try:
            self._feed(plain.text)
        finally:
            expat.StartElementHandler = self.builder.start
            expat.EndElementHandler = self.builder.end
        self.builder.add_plain(plain, elements)

    def _check_pending(self) -> None:
        """Stop if expat holds an incomplete token bigger than ``MAX_TOKEN_BYTES``.

        After a feed expat's current byte index is where the bytes it could not finish (an
        incomplete token) begin: the size of that token so far, measured at no cost per event.
        """
        expat = self._parser.parser
        # -1 when expat has no position to report (expat >= 2.6 may defer parsing a chunk);
        # the check then waits for the next feed.
        start = expat.CurrentByteIndex
        if start >= 0 and self._fed - start > MAX_TOKEN_BYTES:
            raise FeedError(
                "token-too-large",
                f"a single XML token (a tag with its attributes, a comment or a processing "
                f"instruction) is larger than {MAX_TOKEN_BYTES >> 20} MiB: geocode fields are "
                "short; the file is probably corrupt",
                line=expat.CurrentLineNumber,
            )

    def close(self) -> list[GeocodeEntity]:
        self._guard(self._parser.close)
        if not self.builder.root_seen:
            raise FeedError("not-well-formed", "the file contains no XML element", line=1)
        return self._take()

    def _take(self) -> list[GeocodeEntity]:
        self.builder.flush_run()
        done = self.builder.done
        if not done:
            return done
        self.builder.done = []
        return done

    def _guard(self, call: Callable[..., object], *args: object) -> None:
        expat = self._parser.parser
        try:
            call(*args)
        except ParseError as exc:
            line, column = exc.position
            message = str(exc).split(": line")[0]
            raise FeedError(
                "not-well-formed",
                f"the XML is not well-formed: {message}",
                line=line,
                column=column,
            ) from exc
        except DTDForbidden as exc:
            raise FeedError(
                "dtd-forbidden",
                "the XML has a document type declaration (DTD); DTDs are refused because they "
                "can expand entities or fetch external files",
                line=expat.CurrentLineNumber,
            ) from exc
        except EntitiesForbidden as exc:
            raise FeedError(
                "entities-forbidden",
                f"the XML declares the entity {exc.name!r}; entity declarations are refused",
                line=expat.CurrentLineNumber,
            ) from exc
        except ExternalReferenceForbidden as exc:
            raise FeedError(
                "external-reference-forbidden",
                f"the XML references an external resource ({exc.sysid!r}); refused, not fetched",
                line=expat.CurrentLineNumber,
            ) from exc
        except DefusedXmlException as exc:  # any other construct defusedxml refuses
            raise FeedError(
                "xml-forbidden", f"refused XML construct: {exc}", line=expat.CurrentLineNumber
            ) from exc


def iter_xml_entities(
    text: TextIO,
    on_issue: IssueHandler,
    prefix: str = "",
    *,
    max_elements: int | None = None,
    screen: bool = False,
    on_version: Callable[[str], None] | None = None,
) -> Iterator[GeocodeEntity] | Iterator[Scanned]:
    """Entities of the XML feed in ``text``; ``prefix`` is text already read from it.
    ``screen``: ``Scanned`` tuples instead (``validate_feed``). ``on_version`` is told the
    Data Schema version ("2.0", "1.0") once the root element is read."""
    parser = XmlFeedParser(on_issue, max_elements, screen=screen)
    if on_version is not None:
        parser.builder.on_version = on_version
    chunk = prefix
    while True:
        if chunk:
            yield from parser.feed(chunk)
        chunk = text.read(READ_CHUNK)
        if not chunk:
            break
    yield from parser.close()
