"""``write_feed`` and ``convert_feed``: any entities to any format, and what text cannot carry.

XML carries everything in the model. Text (csv/tab/pipe) has one row per entity and no column
for some XML options, so converting to text drops, per entity (``text_losses`` lists them):

- every ``GeocodeResponse`` after the first (text has the first/best one only);
- ``MaxResults``, ``IncludeNeighborhood`` and ``IncludeQueryParse`` of either request
  ("available with XML requests only");
- with both request kinds in one entity: the ReverseGeocodeRequest's Culture and
  MinimumConfidence when they differ from the GeocodeRequest's (text has one column for each);
- a request with nothing text can hold (e.g. ``<GeocodeRequest/>``, or a ReverseGeocodeRequest
  with no Location and no IncludeEntityTypes, whose Culture then reads back as a forward one);
- leading/trailing whitespace of values, and an empty ``<Address/>`` (both read back as absent).

Converting to XML loses nothing the model holds, but a ``false`` boolean is written as absent
(its default), as the service's own echo does (Q33), and characters XML cannot carry (control
characters a text cell may hold) are replaced by U+FFFD. Writers count every replaced character
(``FeedWriter.replaced``) and ``convert_feed`` reports them (``replaced-characters``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from geocode_dataflow.schema import columns as col
from geocode_dataflow.schema import v1
from geocode_dataflow.schema.detect import FORMATS, TEXT_FORMATS, check_format
from geocode_dataflow.schema.encoding import Source
from geocode_dataflow.schema.issues import FeedError, Issue
from geocode_dataflow.schema.model import GeocodeEntity, GeocodeRequest, ReverseGeocodeRequest
from geocode_dataflow.schema.plain import TableMapping
from geocode_dataflow.schema.reader import open_feed
from geocode_dataflow.schema.text import TextFeedWriter
from geocode_dataflow.schema.validate import Limits, too_many_entities
from geocode_dataflow.schema.xmlwrite import XmlFeedWriter


class FeedWriter:
    """Push-style writer: ``write(entity)`` one at a time, then ``close()`` (or ``with``).

    For producers that cannot hand over one iterable, e.g. splitting results into a
    succeeded and a failed file in a single pass. ``close`` finishes the document (the XML
    end tag) and flushes; it never closes ``sink``. Arguments as for ``write_feed``.
    """

    def __init__(
        self,
        sink: BinaryIO,
        fmt: str,
        *,
        columns: list[str] | None = None,
        header: list[str] | None = None,
        version_line: str | None = None,
        version: str = "2.0",
    ) -> None:
        self.format = check_format(fmt) or ""
        self.version = version
        self.count = 0
        self.replaced = 0  # characters replaced by U+FFFD (see ``write``)
        self._closed = False
        self._writer: TextFeedWriter | XmlFeedWriter | v1.TextFeedWriter
        if self.format == "xml":
            self._writer = XmlFeedWriter(sink, version)
        elif version == v1.VERSION:
            self._writer = v1.TextFeedWriter(sink, self.format)
        else:
            self._writer = TextFeedWriter(
                sink, self.format, columns=columns, header=header, version_line=version_line
            )

    def write(self, entity: GeocodeEntity) -> int:
        """Write one entity; return how many of its characters the format cannot carry were
        replaced by U+FFFD (XML: control characters; any format: lone surrogates)."""
        if self._closed:
            raise ValueError("write to a closed FeedWriter")
        replaced = self._writer.write(entity)
        self.count += 1
        self.replaced += replaced
        return replaced

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.finish()

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            # Do not complete a document whose production failed: a well-formed but
            # truncated feed would pass for a whole one.
            self._closed = True
            self._writer.flush()


def write_feed(
    entities: Iterable[GeocodeEntity],
    sink: BinaryIO,
    fmt: str,
    *,
    columns: list[str] | None = None,
    header: list[str] | None = None,
    version_line: str | None = None,
    version: str = "2.0",
) -> int:
    """Write ``entities`` to ``sink`` as UTF-8 (no BOM), streaming; return how many.
    ``version``: Data Schema 2.0, or 1.0 (``schema.v1``: text without version line and
    header, 31 fields a row; ``columns``/``header``/``version_line`` are then ignored).

    Text: the version line (``version_line`` verbatim, else the standard one), the header line
    (``header`` tokens verbatim when given, each mapped to its trimmed canonical column; else
    ``columns``; else all 41 ``TEXT_COLUMNS``), then one row per entity with exactly those
    columns, CSV-quoted where needed. XML: ``columns``/``header``/``version_line`` are ignored.
    """
    with FeedWriter(
        sink, fmt, columns=columns, header=header, version_line=version_line, version=version
    ) as out:
        for entity in entities:
            out.write(entity)
    return out.count


def _request_options(request: GeocodeRequest | ReverseGeocodeRequest, kind: str) -> list[str]:
    dropped = []
    if request.max_results is not None:
        dropped.append(f"{kind} MaxResults={request.max_results}")
    if request.include_neighborhood is not None:
        dropped.append(f"{kind} IncludeNeighborhood={str(request.include_neighborhood).lower()}")
    if isinstance(request, GeocodeRequest) and request.include_query_parse is not None:
        dropped.append(f"{kind} IncludeQueryParse={str(request.include_query_parse).lower()}")
    return dropped


def text_losses(entity: GeocodeEntity) -> list[str]:
    """What writing ``entity`` as text (csv/tab/pipe) would drop, in words; empty if nothing."""
    dropped: list[str] = []
    forward, reverse = entity.geocode_request, entity.reverse_geocode_request
    if len(entity.responses) > 1:
        dropped.append(f"{len(entity.responses) - 1} GeocodeResponse(s) after the first")
    if forward is not None:
        dropped += _request_options(forward, "GeocodeRequest")
        carried = col.entity_to_cells(GeocodeEntity(id=None, geocode_request=forward))
        if not carried:
            dropped.append("an empty GeocodeRequest")
    if reverse is not None:
        dropped += _request_options(reverse, "ReverseGeocodeRequest")
        if not (reverse.latitude or reverse.longitude or reverse.include_entity_types):
            dropped.append("a ReverseGeocodeRequest without Location or IncludeEntityTypes")
        if forward is not None:
            for attr, label in (("culture", "Culture"), ("min_confidence", "MinimumConfidence")):
                mine, theirs = getattr(reverse, attr), getattr(forward, attr)
                if mine is not None and mine != theirs:
                    dropped.append(
                        f"ReverseGeocodeRequest {label}={mine!r} (text has one {label} column)"
                    )
    return dropped


def convert_feed(
    source: Source,
    sink: BinaryIO,
    to_fmt: str,
    filename: str | None = None,
    *,
    fmt: str | None = None,
    losses: list[Issue] | None = None,
    limits: Limits | None = None,
    mapping: TableMapping | None = None,
    to_version: str = "2.0",
) -> int:
    """Read a feed in any format and write it as ``to_fmt``; return the number of entities.

    The source may be Data Schema 1.0 or 2.0; the result is ``to_version`` (2.0 by default, so
    that converting turns 1.0 into 2.0). What the target cannot carry is noted per entity in
    ``losses``, as below.

    A plain table (``mapping`` as for ``open_feed``) becomes a v2.0 feed of the columns its
    mapping fills.

    Text to text keeps the source's columns (and version line); XML to text writes all 41
    columns. When ``losses`` is a list, one ``Issue`` per entity that loses something is
    appended: ``dropped-in-conversion`` (text cannot carry it, see the module docstring) and
    ``replaced-characters`` (characters replaced by U+FFFD). ``limits``: stop with
    ``FeedError`` past ``max_bytes``, ``max_elements`` or at the first entity beyond
    ``max_entities`` (none by default). Raises ``FeedError`` if the source is not a readable
    v2.0 feed.
    """
    target = check_format(to_fmt)
    if target not in FORMATS:
        raise ValueError(f"unknown format {to_fmt!r}")
    with open_feed(
        source,
        filename,
        fmt=fmt,
        max_bytes=limits.max_bytes if limits else None,
        max_elements=limits.max_elements if limits else None,
        mapping=mapping,
    ) as reader:
        entities: Iterator[GeocodeEntity] = iter(reader)
        if limits is not None:
            entities = _at_most(entities, limits.max_entities)
        if losses is not None and (target in TEXT_FORMATS or to_version == v1.VERSION):
            entities = _noting_losses(entities, losses, target, to_version)
        # A 2.0 text source keeps its columns and version line; a 1.0 one has neither.
        text_source = (
            reader.format in TEXT_FORMATS and reader.schema_version != v1.VERSION
        ) or reader.table is not None
        with FeedWriter(
            sink,
            target,
            columns=reader.columns if text_source and target != "xml" else None,
            version_line=reader.version_line if text_source and target != "xml" else None,
            version=to_version,
        ) as out:
            for entity in entities:
                replaced = out.write(entity)
                if replaced and losses is not None:
                    losses.append(_replaced(entity, replaced, target))
        return out.count


def _at_most(entities: Iterator[GeocodeEntity], limit: int) -> Iterator[GeocodeEntity]:
    for count, entity in enumerate(entities):
        if count == limit:
            raise FeedError.from_issue(too_many_entities(limit, entity.line))
        yield entity


def _replaced(entity: GeocodeEntity, replaced: int, target: str) -> Issue:
    """``count``: the number of characters replaced in the entity."""
    what = (
        "characters XML cannot carry (control characters)"
        if target == "xml"
        else "lone surrogates (not characters)"
    )
    return Issue(
        "replaced-characters",
        f"{what} were replaced by U+FFFD",
        line=entity.line,
        entity_id=entity.id,
        count=replaced,
    )


def _noting_losses(
    entities: Iterator[GeocodeEntity], losses: list[Issue], target: str, version: str
) -> Iterator[GeocodeEntity]:
    text = target in TEXT_FORMATS
    what = f"Data Schema 1.0 {'text' if text else 'XML'}" if version == v1.VERSION else "text"
    for entity in entities:
        if version == v1.VERSION:
            dropped = v1.losses(entity, text=text)
        else:
            dropped = text_losses(entity)
        if dropped:
            losses.append(
                Issue(
                    "dropped-in-conversion",
                    f"not representable in {what}: " + "; ".join(dropped),
                    line=entity.line,
                    entity_id=entity.id,
                )
            )
        yield entity
