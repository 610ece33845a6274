"""Reading a data source download (``<MainRoot>``: inline ``xs:schema``, then one element per
entity) as a stream: the schema first, then one entity at a time, never a tree.

The hostile-XML rules of the feed reader apply (``schema.xmlfeed``): defusedxml's expat
refuses DTDs, entity declarations and external references before anything is expanded;
nesting is capped at ``MAX_XML_DEPTH`` (the format needs 9 levels), a value at
``MAX_FIELD_CHARS``, an incomplete token at ``MAX_TOKEN_BYTES``, an entity at
``MAX_ENTITY_ELEMENTS`` elements, the elements skipped unread (not in the schema) at
``MAX_SKIPPED_ELEMENTS``, and the whole download at ``max_bytes`` and ``max_entities``.
Names are matched by local name, since the documented download declares ``xs`` as
``https://www.w3.org/2001/XMLSchema`` where ADO.NET writes ``http://``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import DefusedXMLParser

from geocode_dataflow.datasources.model import (
    Column,
    DataSourceFormatError,
    DataSourceSchema,
    column_type,
)
from geocode_dataflow.schema.text import MAX_FIELD_CHARS
from geocode_dataflow.schema.xmlfeed import (
    MAX_ENTITY_ELEMENTS,
    MAX_SKIPPED_ELEMENTS,
    MAX_TOKEN_BYTES,
    MAX_XML_DEPTH,
    READ_CHUNK,
)

Row = dict[str, str]


@dataclass(frozen=True)
class DataSourceLimits:
    max_bytes: int = 2 * 1024**3  # the client's cap on one downloaded set
    max_entities: int = 10_000_000


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _attributes(flat: list[str]) -> dict[str, str]:
    """expat's ordered attribute list -> {local name: value}."""
    return {_local(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


class _SchemaBuilder:
    """The ``xs:schema`` subtree: data set, entity type, columns, primary key."""

    def __init__(self) -> None:
        self.elements: list[str | None] = []  # open xs:element names, outermost first
        self.data_set: str | None = None
        self.entity_type: str | None = None
        self.columns: list[Column] = []
        self.pending: dict[str, str] | None = None  # the column being declared
        self.key_fields: list[str] = []
        self.in_primary_key = False

    def start(self, local: str, attrs: dict[str, str], line: int) -> None:
        if local == "element":
            self._start_element(attrs, line)
        elif local == "restriction" and self.pending is not None and "type" not in self.pending:
            self.pending["type"] = attrs.get("base", "xs:string")
        elif local in ("unique", "key") and attrs.get("PrimaryKey", "").lower() == "true":
            self.in_primary_key = True
        elif local == "field" and self.in_primary_key:
            xpath = attrs.get("xpath", "")
            self.key_fields.append(xpath.rpartition(":")[2].lstrip("@"))

    def _start_element(self, attrs: dict[str, str], line: int) -> None:
        name = attrs.get("name")
        level = len(self.elements)
        self.elements.append(name)
        if level == 0:
            self.data_set = name
        elif level == 1:
            if self.entity_type is not None:
                raise DataSourceFormatError(
                    "many-entity-types",
                    "the schema declares more than one entity type; a data source has one",
                    line=line,
                )
            self.entity_type = name
        elif level == 2:
            self.pending = {"name": name or "", **attrs}
        else:
            raise DataSourceFormatError(
                "nested-column", f"column {self.elements[2]!r} has nested elements", line=line
            )
        if len(self.columns) >= MAX_ENTITY_ELEMENTS:
            raise DataSourceFormatError(
                "too-many-columns",
                f"the schema declares more than {MAX_ENTITY_ELEMENTS:,} columns",
                line=line,
            )

    def end(self, local: str) -> None:
        if local == "element":
            if len(self.elements) == 3 and self.pending is not None:
                declared = self.pending.get("type", "xs:string")
                self.columns.append(
                    Column(
                        name=self.pending["name"],
                        type=column_type(declared, self.pending.get("DataType")),
                        xs_type=declared,
                    )
                )
                self.pending = None
            self.elements.pop()
        elif local in ("unique", "key"):
            self.in_primary_key = False

    def finish(self, line: int) -> DataSourceSchema:
        if not self.entity_type or not self.columns:
            raise DataSourceFormatError(
                "no-entity-type",
                "the inline schema declares no entity type with columns",
                line=line,
            )
        names = [c.name for c in self.columns]
        if "" in names or len(set(names)) != len(names):
            raise DataSourceFormatError(
                "bad-columns", "the schema has a column without a name, or one twice", line=line
            )
        unknown = [k for k in self.key_fields if k not in names]
        if unknown:
            raise DataSourceFormatError(
                "bad-primary-key", f"the primary key names unknown columns {unknown}", line=line
            )
        return DataSourceSchema(
            data_set=self.data_set or self.entity_type,
            entity_type=self.entity_type,
            columns=self.columns,
            primary_key=self.key_fields,
        )


class DataSourceReader:
    """Iterate over ``(line, {column: text})`` per entity; ``schema`` is set before the
    first one (and after the iteration for a data source without entities)."""

    def __init__(self, stream: BinaryIO, limits: DataSourceLimits | None = None) -> None:
        self._stream = stream
        self._limits = limits or DataSourceLimits()
        self.schema: DataSourceSchema | None = None
        self._names: frozenset[str] = frozenset()  # the schema's column names (exact)
        self.entities = 0
        self._builder: _SchemaBuilder | None = None
        self._depth = 0
        self._root_seen = False
        self._row: Row | None = None
        self._row_line = 0
        self._column: str | None = None
        self._text: list[str] = []
        self._text_size = 0
        self._skipped = 0
        self._skip_depth = 0  # > 0 while inside an element skipped with its content
        self._done: list[tuple[int, Row]] = []
        self._fed = 0
        self._parser = DefusedXMLParser(
            target=self, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        expat = self._parser.parser
        expat.StartElementHandler = self._start
        expat.EndElementHandler = self._end
        expat.CharacterDataHandler = None
        expat.DefaultHandlerExpand = None
        self._expat = expat

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        while True:
            chunk = self._stream.read(READ_CHUNK)
            if not chunk:
                break
            self._fed += len(chunk)
            if self._fed > self._limits.max_bytes:
                raise DataSourceFormatError(
                    "too-large", f"the download is larger than {self._limits.max_bytes:,} bytes"
                )
            self._guard(self._parser.feed, chunk)
            start = self._expat.CurrentByteIndex
            if start >= 0 and self._fed - start > MAX_TOKEN_BYTES:
                raise self._error(
                    "token-too-large",
                    f"a single XML token is larger than {MAX_TOKEN_BYTES >> 20} MiB",
                )
            yield from self._take()
        self._guard(self._parser.close)
        yield from self._take()
        if not self._root_seen:
            raise DataSourceFormatError("not-well-formed", "the download contains no XML element")
        if self.schema is None:
            raise DataSourceFormatError("no-schema", "the download has no inline xs:schema")

    def _take(self) -> list[tuple[int, Row]]:
        done, self._done = self._done, []
        return done

    # -- expat handlers ----------------------------------------------------------------------

    def _line(self) -> int:
        return int(self._expat.CurrentLineNumber)

    def _error(self, code: str, message: str) -> DataSourceFormatError:
        return DataSourceFormatError(code, message, line=self._line())

    def _start(self, name: str, flat: list[str]) -> None:
        self._depth += 1
        if self._depth > MAX_XML_DEPTH:
            raise self._error("too-deep", f"the XML nests deeper than {MAX_XML_DEPTH} levels")
        if self._skip_depth:
            self._skip_depth += 1
            return
        local = _local(name)
        if self._depth == 1:
            self._root_seen = True
        elif self._builder is not None:
            self._builder.start(local, _attributes(flat), self._line())
        elif self._depth == 2:
            self._start_top(local)
        elif self._depth == 3 and self._row is not None:
            self._start_column(local)
        else:
            raise self._error("nested-value", f"{local} is nested inside a column value")

    def _start_top(self, local: str) -> None:
        if local == "schema":
            if self.schema is not None:
                raise self._error("many-schemas", "the download has a second xs:schema")
            self._builder = _SchemaBuilder()
            return
        if self.schema is None:
            raise self._error("no-schema", f"entity {local!r} comes before any inline schema")
        if local != self.schema.entity_type:
            raise self._error(
                "unknown-entity",
                f"element {local!r} is not the schema's entity type {self.schema.entity_type!r}",
            )
        if self.entities >= self._limits.max_entities:
            raise self._error(
                "too-many-entities", f"more than {self._limits.max_entities:,} entities"
            )
        self._row, self._row_line = {}, self._line()

    def _start_column(self, local: str) -> None:
        assert self._row is not None and self.schema is not None  # noqa: S101
        if local not in self._names:
            self._skip(local)
            return
        if local in self._row:
            raise self._error("duplicate-value", f"entity has two {local} elements")
        if len(self._row) >= MAX_ENTITY_ELEMENTS:
            raise self._error("too-many-values", "an entity has too many elements")
        self._column, self._text, self._text_size = local, [], 0
        self._expat.CharacterDataHandler = self._data

    def _skip(self, local: str) -> None:
        self._skipped += 1
        if self._skipped > MAX_SKIPPED_ELEMENTS:
            raise self._error(
                "too-many-skipped",
                f"more than {MAX_SKIPPED_ELEMENTS:,} elements that are not in the schema "
                f"(the last: {local!r})",
            )
        self._skip_depth = 1

    def _data(self, text: str) -> None:
        self._text_size += len(text)
        if self._text_size > MAX_FIELD_CHARS:
            raise self._error(
                "value-too-long", f"{self._column} is longer than {MAX_FIELD_CHARS:,} characters"
            )
        self._text.append(text)

    def _end(self, name: str) -> None:
        depth, self._depth = self._depth, self._depth - 1
        if self._skip_depth:
            self._skip_depth -= 1
            return
        local = _local(name)
        if self._builder is not None:
            if depth == 2:  # the end of xs:schema
                self.schema = self._builder.finish(self._line())
                self._names = frozenset(c.name for c in self.schema.columns)
                self._builder = None
            else:
                self._builder.end(local)
        elif depth == 3 and self._column is not None and self._row is not None:
            self._row[self._column] = "".join(self._text)
            self._column = None
            self._expat.CharacterDataHandler = None
        elif depth == 2 and self._row is not None:
            self._done.append((self._row_line, self._row))
            self.entities += 1
            self._row = None

    def _guard(self, call: Callable[..., Any], *args: Any) -> None:
        try:
            call(*args)
        except ParseError as exc:
            raise DataSourceFormatError(
                "not-well-formed",
                f"the XML is not well-formed: {str(exc).split(': line')[0]}",
                line=exc.position[0],
            ) from exc
        except DTDForbidden as exc:
            raise self._error("dtd-forbidden", "the XML has a DTD; refused") from exc
        except EntitiesForbidden as exc:
            raise self._error(
                "entities-forbidden", f"the XML declares the entity {exc.name!r}; refused"
            ) from exc
        except DefusedXmlException as exc:
            raise self._error("xml-forbidden", f"refused XML construct: {exc}") from exc
