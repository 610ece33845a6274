"""``open_feed``: one streaming reader for all four formats, whatever the encoding/compression.

Opening reads only the prologue (text: version and header lines; XML: nothing beyond the first
line) so that ``format``/``header``/``columns`` are known up front; entities are then produced
one at a time while iterating, in constant memory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from types import TracebackType

from geocode_dataflow.schema import text as text_format
from geocode_dataflow.schema import v1
from geocode_dataflow.schema.detect import (
    DELIMITERS,
    check_format,
    check_text_version,
    format_from_name,
    looks_like_xml,
    text_format_from_header,
    text_version,
)
from geocode_dataflow.schema.encoding import DecodedSource, Source, source_name
from geocode_dataflow.schema.issues import FeedError, Issue, IssueHandler, raise_on_error
from geocode_dataflow.schema.model import GeocodeEntity
from geocode_dataflow.schema.plain import (
    TABLE_FORMAT,
    XLSX_FORMAT,
    ZIP_MAGIC,
    TableMapping,
    TableRows,
    check_xlsx_size,
    choose_mapping,
    entities_of,
    is_plain_first_line,
    iter_delimited_rows,
    iter_xlsx_rows,
    parse_table_header,
    sniff_delimiter,
    spool_xlsx,
    table_rows,
    v2_columns,
)
from geocode_dataflow.schema.screen import Scanned
from geocode_dataflow.schema.xmlfeed import iter_xml_entities

_PROLOGUE_LIMIT = 1 << 20  # longest version/header line we accept: a header is ~2 KiB
# Labels of encodings with 2- or 4-byte units (dashes removed), as parsers name them.
_WIDE_ENCODINGS = frozenset(
    {"utf16", "utf16le", "utf16be", "utf32", "utf32le", "utf32be", "ucs2", "ucs4", "unicode"}
)
_XML_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']+)["']""")


class FeedReader:
    """Context manager and single-pass iterator of the ``GeocodeEntity`` items of a feed.

    Attributes: ``format`` (xml/csv/tab/pipe), ``encoding`` (utf-8, utf-8-bom, utf-16-le,
    utf-16-be), ``compressed`` (gzip), and for text feeds ``version_line`` (as sent),
    ``header`` (tokens as sent, untrimmed) and ``columns`` (canonical names, same order; ``""``
    for an empty padding token). Iteration raises ``FeedError`` on file-level problems.
    """

    def __init__(
        self,
        decoded: DecodedSource,
        fmt: str,
        *,
        prefix: str = "",
        version_line: str | None = None,
        header: list[str] | None = None,
        columns: list[str] | None = None,
        on_issue: IssueHandler = raise_on_error,
        max_elements: int | None = None,
        table: PlainLayout | None = None,
        schema_version: str | None = "2.0",
        pending: str = "",
        first_line: int = 3,
    ) -> None:
        self._decoded = decoded
        # "2.0" or "1.0"; for XML None until the root element has been read (iterating).
        self.schema_version = schema_version
        self._pending = pending  # 1.0 text: the first row, read while detecting
        self._first_line = first_line
        self.table = table
        self._max_elements = max_elements
        self.format = fmt
        self.encoding = decoded.encoding
        self.compressed = decoded.compressed
        self.version_line = version_line
        self.header = header
        self.columns = columns
        self._prefix = prefix
        self._on_issue = on_issue
        self._started = False

    @property
    def utf8_bytes(self) -> int:
        """Uncompressed UTF-8 bytes read so far (the whole file once iteration has finished)."""
        return self._decoded.utf8.utf8_bytes

    def __iter__(self) -> Iterator[GeocodeEntity]:
        if self._started:
            raise RuntimeError("a FeedReader can be iterated only once")
        self._started = True
        if self.table is not None:
            return self.table.entities(self._decoded, self._on_issue)
        return self._entities(screen=False)  # type: ignore[return-value]

    def _entities(self, *, screen: bool) -> Iterator[GeocodeEntity] | Iterator[Scanned]:
        text = self._decoded.text()
        if self.format == "xml":
            return iter_xml_entities(
                text,
                self._on_issue,
                self._prefix,
                max_elements=self._max_elements,
                screen=screen,
                on_version=self._found_version,
            )
        assert self.columns is not None  # noqa: S101 - set for every text feed by open_feed
        return text_format.iter_entities(
            text,
            self.format,
            self.columns,
            first_line=self._first_line,
            on_issue=self._on_issue,
            max_elements=self._max_elements,
            screen=screen,
            complete=v1.add_text_points if self.schema_version == v1.VERSION else None,
            pending=self._pending,
        )

    def _found_version(self, version: str) -> None:
        self.schema_version = version

    def scan(self) -> Iterator[Scanned]:
        """For ``validate_feed``, instead of iterating: ``(line, Id, kind, entity)`` per entity,
        the entity None where ``schema.screen`` vouched that ``check_entity`` finds nothing."""
        if self._started:
            raise RuntimeError("a FeedReader can be iterated only once")
        self._started = True
        if self.table is not None:
            entities = self.table.entities(self._decoded, self._on_issue)
            return ((entity.line, entity.id, entity.kind, entity) for entity in entities)
        return self._entities(screen=True)  # type: ignore[return-value]

    def table_rows(self) -> Iterator[tuple[str | None, list[str]]]:
        """A plain table's rows as (Id, the user's cells unchanged); instead of iterating."""
        if self.table is None:
            raise TypeError("table_rows() is for plain tables; iterate a Data Schema feed")
        if self._started:
            raise RuntimeError("a FeedReader can be iterated only once")
        self._started = True
        return table_rows(self.table.rows(self._decoded), self.table.mapping)

    @property
    def mapping(self) -> dict[str, str] | None:
        """For a plain table: the user's column -> the request field it was mapped to."""
        return None if self.table is None else self.table.by_name()

    def close(self) -> None:
        self._decoded.close()
        if self.table is not None:
            self.table.close()

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_feed(
    source: Source,
    filename: str | None = None,
    *,
    fmt: str | None = None,
    on_issue: IssueHandler | None = None,
    max_bytes: int | None = None,
    max_elements: int | None = None,
    mapping: TableMapping | None = None,
) -> FeedReader:
    """Open a Data Schema v2.0 feed from a path, bytes or a binary stream (not closed by us).

    Detects gzip (magic bytes), the encoding (UTF-8 with or without BOM, UTF-16 with BOM) and
    the format: content first (``<`` -> XML; the version line + the header's delimiter ->
    text), then the file name (``.xml .csv .tab .tsv .txt .pipe`` optionally ``.gz``; by
    default the path of a path source); ``fmt`` overrides both. ``on_issue(issue, is_error)`` receives problems the reader can step over
    (default: raise errors, ignore remarks); ``max_bytes`` stops reading past that much
    uncompressed UTF-8, ``max_elements`` past that many elements (see ``Limits``). Raises
    ``FeedError`` when the prologue is unreadable.

    A plain table (a text file whose first line is not the version line, or an ``.xlsx``) is
    read too, its columns mapped by name or by ``mapping`` (see ``schema.plain``): format
    ``table`` / ``xlsx``, ``header`` its own, ``columns`` the v2.0 columns it fills.
    """
    explicit = check_format(fmt)
    name = source_name(source, filename)
    if is_xlsx(source, name):
        return open_xlsx(source, on_issue or raise_on_error, mapping, max_bytes, max_elements)
    return open_decoded(
        DecodedSource(source, max_bytes=max_bytes),
        name,
        explicit,
        on_issue,
        max_elements=max_elements,
        mapping=mapping,
    )


class PlainLayout:
    """How a plain table maps onto requests: its header, delimiter, mapping and culture."""

    def __init__(
        self,
        header: list[str],
        mapping: dict[int, str],
        culture: str | None,
        delimiter: str | None = None,
        rows: Iterator[tuple[int, list[str]]] | None = None,
        closers: tuple[object, ...] = (),
    ) -> None:
        self.header = header
        self.mapping = mapping
        self.culture = culture
        self.delimiter = delimiter
        self._rows = rows
        self._closers = closers

    def by_name(self) -> dict[str, str]:
        return {self.header[index]: name for index, name in sorted(self.mapping.items())}

    def rows(self, decoded: DecodedSource | None) -> TableRows:
        if self._rows is not None:
            return TableRows(self.header, self._rows)
        assert decoded is not None and self.delimiter is not None  # noqa: S101
        return TableRows(self.header, iter_delimited_rows(decoded.text(), self.delimiter))

    def entities(self, decoded: DecodedSource, on_issue: IssueHandler) -> Iterator[GeocodeEntity]:
        names = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
        return entities_of(
            self.rows(decoded),
            self.mapping,
            self.culture,
            on_issue,
            names.get(self.delimiter or "", "delimiter"),
        )

    def close(self) -> None:
        for closer in self._closers:
            if closer is not None:
                closer.close()  # type: ignore[attr-defined]


def is_xlsx(source: Source, filename: str | None) -> bool:
    """An .xlsx by its name, or (paths and bytes) by the zip magic."""
    if filename and filename.lower().endswith(".xlsx"):
        return True
    if isinstance(source, bytes):
        return source[:4] == ZIP_MAGIC
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                return handle.read(4) == ZIP_MAGIC
        except OSError:
            return False
    return False


class _NoDecoded:
    """Stands in for the decoded source of a workbook (read by openpyxl, not as text)."""

    def __init__(self, size: int) -> None:
        self.encoding = None
        self.compressed = False
        self.utf8 = self
        self.utf8_bytes = size

    def close(self) -> None:
        return None


def open_xlsx(
    source: Source,
    on_issue: IssueHandler,
    mapping: TableMapping | None,
    max_bytes: int | None,
    max_elements: int | None,
) -> FeedReader:
    path, spool = spool_xlsx(
        os.fspath(source) if isinstance(source, os.PathLike) else source, max_bytes
    )  # type: ignore[arg-type]
    size = os.path.getsize(path)
    if max_bytes is not None and size > max_bytes:
        if spool is not None:
            spool.close()
        raise FeedError("too-large", f"the workbook is larger than {max_bytes:,} bytes; split it")
    try:
        check_xlsx_size(path, max_bytes)
        header, rows, workbook = iter_xlsx_rows(path)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    try:
        chosen = choose_mapping(header, mapping)
    except BaseException:
        workbook.close()
        if spool is not None:
            spool.close()
        raise
    culture = mapping.culture if mapping else None
    layout = PlainLayout(header, chosen, culture, rows=rows, closers=(workbook, spool))
    return FeedReader(
        _NoDecoded(size),  # type: ignore[arg-type]
        XLSX_FORMAT,
        header=header,
        columns=v2_columns(chosen, culture),
        on_issue=on_issue,
        max_elements=max_elements,
        table=layout,
    )


def open_decoded(
    decoded: DecodedSource,
    filename: str | None,
    fmt: str | None,
    on_issue: IssueHandler | None = None,
    *,
    max_elements: int | None = None,
    mapping: TableMapping | None = None,
) -> FeedReader:
    """``open_feed`` on a source already opened (closed here if the prologue is unreadable)."""
    try:
        return _open(
            decoded, filename, check_format(fmt), on_issue or raise_on_error, max_elements, mapping
        )
    except BaseException:
        decoded.close()
        raise


def _open(
    decoded: DecodedSource,
    filename: str | None,
    explicit: str | None,
    on_issue: IssueHandler,
    max_elements: int | None,
    mapping: TableMapping | None = None,
) -> FeedReader:
    text = decoded.text()
    first = text.readline(_PROLOGUE_LIMIT)
    prefix = first
    if not first.strip():
        # Leading blank lines: fine for XML, never for text (the version line comes first).
        prefix += text.read(_PROLOGUE_LIMIT)
        if not prefix.strip():
            raise FeedError("empty-file", "the file is empty")
    by_name = format_from_name(filename)
    is_xml = explicit == "xml" or (
        explicit is None
        and (looks_like_xml(prefix) or (by_name == "xml" and text_version(first) is None))
    )
    if is_xml:
        _check_declared_encoding(prefix, decoded.encoding, on_issue)
        return FeedReader(
            decoded,
            "xml",
            prefix=prefix,
            on_issue=on_issue,
            max_elements=max_elements,
            schema_version=None,
        )

    kind = _v1_first_line(first, explicit, by_name) if mapping is None else None
    if kind == "header":  # a 1.0 header row (GeocodeEntity/@Id|...), skipped
        fmt = explicit or v1.delimiter_format(first, by_name)
        return _open_v1(decoded, "", 2, fmt, by_name, on_issue, max_elements)
    if kind == "row":
        return _open_v1(decoded, first, 1, explicit, by_name, on_issue, max_elements)
    if explicit is None and first.strip() and (mapping is not None or is_plain_first_line(first)):
        return _open_table(decoded, first, on_issue, max_elements, mapping, by_name)
    if check_text_version(first) == v1.VERSION:
        # A version line saying 1.0: rows by position follow (a header row may, and is skipped).
        row = text.readline(_PROLOGUE_LIMIT)
        fmt = explicit or v1.delimiter_format(row, by_name)  # from the row, header or not
        header = v1.is_header_row(row.split(DELIMITERS[fmt]))
        return _open_v1(
            decoded, "" if header else row, 3 if header else 2, fmt, by_name, on_issue,
            max_elements,
        )  # fmt: skip
    header_line = text.readline(_PROLOGUE_LIMIT)
    if not header_line.strip():
        raise FeedError(
            "missing-header",
            "the second line must be the column header line (e.g. 'Id,GeocodeRequest/Query')",
            line=2,
        )
    if not header_line.endswith(("\n", "\r")) and len(header_line) >= _PROLOGUE_LIMIT:
        raise FeedError("malformed-header", "the header line is implausibly long", line=2)
    fmt = explicit or text_format_from_header(header_line, by_name)
    header, columns = text_format.parse_header(header_line, fmt)
    return FeedReader(
        decoded,
        fmt,
        version_line=first.rstrip("\r\n"),
        header=header,
        columns=columns,
        on_issue=on_issue,
        max_elements=max_elements,
    )


def _v1_first_line(first: str, explicit: str | None, by_name: str | None) -> str | None:
    """``v1.first_line_kind``; with the format given (the service's ``input=``), where no plain
    table can be meant, a short row is also 1.0 data (``0||Main St``)."""
    if text_version(first) is not None:
        return None
    kind = v1.first_line_kind(first, explicit or by_name)
    if kind is None and explicit is not None:
        cells = first.rstrip("\r\n").split(DELIMITERS[explicit])
        if v1.looks_like_record(cells, "|"):  # the format given: no table can be meant
            return "row"
    return kind


def _open_v1(
    decoded: DecodedSource,
    first_row: str,
    first_line: int,
    explicit: str | None,
    by_name: str | None,
    on_issue: IssueHandler,
    max_elements: int | None,
) -> FeedReader:
    """A Data Schema 1.0 text file, whose rows start at ``first_line`` with ``first_row``
    (already read; empty when the next line read is the first row)."""
    fmt = explicit or v1.delimiter_format(first_row or "", by_name)
    return FeedReader(
        decoded,
        fmt,
        columns=list(v1.FIELDS),
        on_issue=on_issue,
        max_elements=max_elements,
        schema_version=v1.VERSION,
        pending=first_row,
        first_line=first_line,
    )


def _open_table(
    decoded: DecodedSource,
    first: str,
    on_issue: IssueHandler,
    max_elements: int | None,
    mapping: TableMapping | None,
    by_name: str | None = None,
) -> FeedReader:
    if not first.endswith(("\n", "\r")) and len(first) >= _PROLOGUE_LIMIT:
        raise FeedError("malformed-header", "the header line is implausibly long", line=1)
    delimiter = sniff_delimiter(first)
    header = parse_table_header(first, delimiter)
    try:
        chosen = choose_mapping(header, mapping)
    except FeedError as exc:
        if exc.code == "unmapped-table" and mapping is None:
            if v1.looks_like_record(header, delimiter):
                # Not a header at all: a Data Schema 1.0 file (no version line, 31 fields by
                # position), whose first line is its first entity.
                return _open_v1(decoded, first, 1, None, by_name, on_issue, max_elements)
            if _looks_like_data(header):
                check_text_version(first)  # a Data Schema file without its version line
        raise
    culture = mapping.culture if mapping else None
    return FeedReader(
        decoded,
        TABLE_FORMAT,
        header=header,
        columns=v2_columns(chosen, culture),
        on_issue=on_issue,
        max_elements=max_elements,
        table=PlainLayout(header, chosen, culture, delimiter),
    )


def _looks_like_data(header: list[str]) -> bool:
    return any(not name or name.replace(".", "", 1).lstrip("+-").isdigit() for name in header)


def _check_declared_encoding(prefix: str, encoding: str, on_issue: IssueHandler) -> None:
    """The bytes decide how we read the file; a declaration saying otherwise misleads others.

    A UTF-8 file declaring e.g. ISO-8859-1 is read as UTF-8 here, but a reader that believes
    the declaration (possibly the service) would garble every non-ASCII character: a remark.
    A UTF-8 file declaring UTF-16 is an error: XML requires a byte-order mark on UTF-16, and a
    parser that believes the declaration refuses the file (.NET: "There is no Unicode byte
    order mark. Cannot switch to Unicode"). A UTF-16 file is sent as UTF-8, its declaration
    rewritten (``utf8_chunks``), so any UTF-16 label on it is fine.
    """
    match = _XML_ENCODING.match(prefix)
    if match is None:
        return
    declared = match.group(1).strip().lower().replace("_", "-")
    family = "utf-16" if encoding.startswith("utf-16") else "utf-8"
    if declared.startswith(family) or (
        family == "utf-8" and declared in ("utf8", "us-ascii", "ascii")
    ):
        return
    if family == "utf-8" and declared.replace("-", "") in _WIDE_ENCODINGS:
        on_issue(
            Issue(
                "declared-encoding",
                f"the XML declaration says encoding={match.group(1)!r} but the file is UTF-8 "
                'without a byte-order mark; XML parsers refuse that: declare encoding="utf-8"',
                line=1,
            ),
            True,
        )
        return
    on_issue(
        Issue(
            "declared-encoding",
            f"the XML declaration says encoding={match.group(1)!r} but the file is "
            f'{family.upper()}; declare encoding="utf-8" (the service accepts UTF-8 only)',
            line=1,
        ),
        False,
    )
