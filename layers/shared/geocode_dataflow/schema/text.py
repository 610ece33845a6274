"""Reading and writing the delimited text formats (csv, tab, pipe) of Data Schema v2.0.

Parsing is the csv module's (RFC 4180 quoting with ``"`` for all three delimiters, since real
TraceIds contain ``|`` and ``, ``); this module only maps header names to columns, trims
cells, and tracks the physical line where each row starts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from geocode_dataflow.schema import columns as col
from geocode_dataflow.schema.detect import DELIMITERS, VERSION_LINE
from geocode_dataflow.schema.issues import FeedError, Issue, IssueHandler
from geocode_dataflow.schema.model import GeocodeEntity

# Row width is bounded by the csv module's field limit (128 KiB per cell by default), which
# also bounds memory on a hostile file with an unterminated quote. The XML reader applies the
# same limit to attribute values and element text, so both formats reject the same values.
MAX_FIELD_CHARS = 131_072  # csv.field_size_limit()'s default
LINE_TERMINATOR = "\r\n"
# Problems of a cell value that make the file invalid; others (partial boxes) are remarks.
_ERROR_CODES = frozenset({"invalid-value", "invalid-json"})


def parse_header(header_line: str, fmt: str) -> tuple[list[str], list[str]]:
    """Split the header line into the tokens as sent and their canonical (trimmed) names.

    Empty tokens are allowed (spreadsheets pad rows with delimiters) and map to ``""``: an
    ignored column whose cells must stay empty. Raises ``FeedError`` for unknown or duplicate
    names and for a missing Id column.
    """
    stripped = header_line.rstrip("\r\n")
    if not stripped.strip():
        raise FeedError("missing-header", "the second line must be the column header line", line=2)
    try:
        tokens = next(csv.reader([stripped], delimiter=DELIMITERS[fmt], quotechar='"'))
    except csv.Error as exc:
        raise FeedError(
            "malformed-header", f"the header line cannot be parsed: {exc}", line=2
        ) from exc
    # A spreadsheet may quote a token after a space (`Id, "TraceId"`), which csv leaves as is.
    names = [token.strip().strip('"').strip() for token in tokens]
    unknown = [name for name in names if name and not col.is_known_column(name)]
    if unknown:
        listed = "; ".join(repr(name) + col.unknown_column_hint(name) for name in unknown)
        raise FeedError("unknown-column", f"unknown column(s) in the header: {listed}", line=2)
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise FeedError(
                "duplicate-column", f"column {name!r} appears twice in the header", line=2
            )
        seen.add(name)
    if col.ID not in seen:
        if len(names) == 1 and DELIMITERS[fmt] not in stripped:
            hint = f" (is the delimiter right? the header was read as {fmt})"
        else:
            hint = ""
        raise FeedError("missing-id-column", f"the header has no 'Id' column{hint}", line=2)
    return tokens, names


def iter_entities(
    text: TextIO, fmt: str, names: list[str], *, first_line: int, on_issue: IssueHandler
) -> Iterator[GeocodeEntity]:
    """Entities from the data rows of ``text`` (positioned after the header line).

    ``first_line`` is the physical line number of the first data line. Blank rows and rows of
    empty cells are skipped. Short rows mean empty trailing cells; cells beyond the header (or
    under an empty header token) must be empty, otherwise the row is reported as an error
    (``extra-cells``: typically an unquoted delimiter spilling a value into the next cells).
    """
    # strict: a quote left open or text after a closing quote is an error, not a silent merge
    # of the rest of the file into one cell. Quotes inside an unquoted cell stay literal (the
    # raw JSON cells of pipe/tab output).
    reader = csv.reader(
        text, delimiter=DELIMITERS[fmt], quotechar='"', skipinitialspace=True, strict=True
    )
    width = len(names)
    consumed = 0  # physical lines the csv reader has taken
    while True:
        line = first_line + consumed
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FeedError("malformed-row", _csv_problem(exc), line=line) from exc
        consumed = reader.line_num
        cells: dict[str, str] = {}
        extra: list[int] = []
        for index, raw in enumerate(row):
            value = raw.strip()
            if not value:
                continue
            name = names[index] if index < width else ""
            if name:
                cells[name] = value
            else:
                extra.append(index + 1)
        if not cells and not extra:
            continue
        entity_id = cells.get(col.ID)
        if any("\x00" in value for value in cells.values()):
            # Python's csv module accepts NUL since 3.11; in a feed it means binary or
            # mis-encoded data, and XML could not carry it.
            on_issue(
                Issue(
                    "nul-character",
                    "the row contains a NUL character (binary data, or UTF-16 saved without BOM?)",
                    line=line,
                    entity_id=entity_id,
                ),
                True,
            )
        if extra:
            on_issue(
                Issue(
                    "extra-cells",
                    f"the row has non-empty cells beyond the header's columns (cell(s) "
                    f"{', '.join(map(str, extra[:5]))}); an unquoted {_delimiter_name(fmt)} in a "
                    "value spills it into the next cells: quote such values",
                    line=line,
                    entity_id=entity_id,
                ),
                True,
            )

        def problem(
            code: str, message: str, line: int = line, entity_id: str | None = entity_id
        ) -> None:
            on_issue(Issue(code, message, line=line, entity_id=entity_id), code in _ERROR_CODES)

        yield col.entity_from_cells(cells, line=line, problem=problem)


def _csv_problem(exc: csv.Error) -> str:
    reason = str(exc)
    if "unexpected end of data" in reason:
        return (
            'a quoted value is never closed: an opening " without its closing quote swallows '
            "the rest of the file"
        )
    if "expected after" in reason:
        return (
            "text follows a closing quote inside a cell; quote the whole cell and double the "
            'quotes inside it ("")'
        )
    if "field larger than field limit" in reason:
        return f"a cell is longer than {csv.field_size_limit():,} characters (an unclosed quote?)"
    return f"the row cannot be parsed: {reason}"


def _delimiter_name(fmt: str) -> str:
    return {"csv": "comma", "tab": "tab", "pipe": "pipe"}[fmt]


class Utf8Writer:
    """A ``write(str)`` target encoding to UTF-8 into any binary sink, in blocks of ~64 KiB.

    Unlike ``io.TextIOWrapper`` it needs nothing of the sink but ``write(bytes)`` and never
    closes it.
    """

    def __init__(self, sink: BinaryIO, block_size: int = 1 << 16) -> None:
        self._sink = sink
        self._parts: list[str] = []
        self._size = 0
        self._block_size = block_size

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self._block_size:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            self._sink.write("".join(self._parts).encode("utf-8"))
            self._parts.clear()
            self._size = 0


class TextFeedWriter:
    """Writes one row per entity with exactly the given columns, UTF-8, CRLF line ends."""

    def __init__(
        self,
        sink: BinaryIO,
        fmt: str,
        *,
        columns: list[str] | None = None,
        header: list[str] | None = None,
        version_line: str | None = None,
    ) -> None:
        if header is not None and columns is None:
            columns = [token.strip() for token in header]
        if columns is None:
            columns = list(col.TEXT_COLUMNS)
        if header is not None and len(header) != len(columns):
            raise ValueError("header and columns must have the same length")
        unknown = [name for name in columns if name and not col.is_known_column(name)]
        if unknown:
            raise ValueError(f"unknown column(s): {', '.join(map(repr, unknown))}")
        self._columns = columns
        self._delimiter = DELIMITERS[fmt]
        self._text = Utf8Writer(sink)
        self._csv = csv.writer(
            self._text,
            delimiter=self._delimiter,
            quotechar='"',
            quoting=csv.QUOTE_MINIMAL,
            lineterminator=LINE_TERMINATOR,
        )
        # Echo the version and header lines verbatim (the service does, spaces included).
        self._text.write(
            (version_line if version_line is not None else VERSION_LINE) + LINE_TERMINATOR
        )
        tokens = header if header is not None else columns
        self._text.write(self._delimiter.join(tokens) + LINE_TERMINATOR)

    def write(self, entity: GeocodeEntity) -> None:
        cells = col.entity_to_cells(entity)
        self._csv.writerow([cells.get(name, "") if name else "" for name in self._columns])

    def finish(self) -> None:
        self._text.flush()

    flush = finish  # text has no closing part
