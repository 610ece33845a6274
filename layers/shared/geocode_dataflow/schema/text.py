"""Reading and writing the delimited text formats (csv, tab, pipe) of Data Schema v2.0.

Parsing is the csv module's (RFC 4180 quoting with ``"`` for all three delimiters, since real
TraceIds contain ``|`` and ``, ``); this module only maps header names to columns, trims
cells, and tracks the physical line where each row starts.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import BinaryIO, TextIO

from geocode_dataflow.schema import columns as col
from geocode_dataflow.schema.detect import DELIMITERS, VERSION_LINE
from geocode_dataflow.schema.issues import FeedError, Issue, IssueHandler, too_many_elements
from geocode_dataflow.schema.model import GeocodeEntity
from geocode_dataflow.schema.screen import PlainRun, RowScreen, Scanned

# A cell is bounded by the csv module's field limit (128 KiB by default). The XML reader
# applies the same limit to attribute values and element text, so both formats reject the
# same values.
MAX_FIELD_CHARS = 131_072  # csv.field_size_limit()'s default
# A row (all its physical lines) is read through a budget, so that a line without an end (or a
# quoted cell holding the rest of the file) costs at most this much memory before it is refused,
# like an XML token. Eight cells at MAX_FIELD_CHARS fit; a real row is a few hundred characters.
MAX_ROW_CHARS = 1 << 20
# Cells in a row, the header's included: 41 columns plus the padding spreadsheets add (Q47).
MAX_ROW_CELLS = 1_000
# Rows skipped for being blank (empty lines, or only delimiters): spreadsheets export some,
# a gzip file of nothing else would otherwise keep the reader busy for minutes.
MAX_BLANK_ROWS = 100_000
LINE_TERMINATOR = "\r\n"
_SURROGATE = re.compile(r"[\ud800-\udfff]")
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
    if len(tokens) > MAX_ROW_CELLS:
        raise FeedError(
            "too-many-cells",
            f"the header line has {len(tokens):,} columns; at most {MAX_ROW_CELLS:,} are read "
            "(Data Schema v2.0 has 41 column names)",
            line=2,
        )
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
    text: TextIO,
    fmt: str,
    names: list[str],
    *,
    first_line: int,
    on_issue: IssueHandler,
    max_elements: int | None = None,
    screen: bool = False,
    complete: Callable[[GeocodeEntity, dict[str, str]], None] | None = None,
    pending: str = "",
) -> Iterator[GeocodeEntity] | Iterator[Scanned]:
    """Entities from the data rows of ``text`` (positioned after the header line); with
    ``screen``, ``Scanned`` tuples for the validator (see ``schema.screen``).

    ``first_line`` is the physical line number of the first data line; ``pending`` is that line
    when it was read already. ``complete(entity, cells)`` finishes each entity built from a row
    (Data Schema 1.0 rows: their point cells, see ``v1.add_text_points``). Blank rows and rows of
    empty cells are skipped (up to ``MAX_BLANK_ROWS``). Short rows mean empty trailing cells;
    cells beyond the header (or under an empty header token) must be empty, otherwise the row
    is reported as an error (``extra-cells``: typically an unquoted delimiter spilling a value
    into the next cells). A row longer than ``MAX_ROW_CHARS`` or wider than ``MAX_ROW_CELLS``
    stops the read (``FeedError``), and so do more than ``max_elements`` objects in the JSON
    cells of the file (each costs about what an XML element does).
    """
    budget = sys.maxsize if max_elements is None else max_elements
    objects = 0
    line = first_line  # where the current row starts
    row_chars = 0  # characters of the current row read so far

    def physical_lines() -> Iterator[str]:
        # readline() with newline='' ends a line at LF, CR or CRLF, as csv wants. The limit
        # is what the row may still take, so a longer line is never held whole: its first
        # MAX_ROW_CHARS + 1 characters go to csv (which may find a cell over its limit, the
        # more precise error), then the row is refused, here or once csv returns it.
        nonlocal row_chars
        readline = text.readline
        if pending:
            row_chars += len(pending)
            yield pending
        while row_chars <= MAX_ROW_CHARS:
            piece = readline(MAX_ROW_CHARS + 1 - row_chars)
            if not piece:
                return
            row_chars += len(piece)
            yield piece
        raise _row_too_long(line)

    # strict: a quote left open or text after a closing quote is an error, not a silent merge
    # of the rest of the file into one cell. Quotes inside an unquoted cell stay literal (the
    # raw JSON cells of pipe/tab output).
    reader = csv.reader(
        physical_lines(),
        delimiter=DELIMITERS[fmt],
        quotechar='"',
        skipinitialspace=True,
        strict=True,
    )
    # Only the named columns are looked at one by one; the cells under empty tokens and beyond
    # the header are checked in bulk (they must be empty), whatever their number.
    named = [(index, name) for index, name in enumerate(names) if name]
    width = named[-1][0] + 1 if named else 0
    holes = [index for index in range(width) if not names[index]]
    blank_rows = 0
    rows = RowScreen(names) if screen else None
    exact = not holes  # a row exactly `width` wide is all named cells
    id_index = names.index(col.ID)
    # Rows the screen looks at: exactly as wide as the header's named columns, none missing.
    # They are screened a batch at a time (RowScreen.batch); the rows of a batch it cannot
    # vouch for as a whole are screened one by one.
    screened_width = width if rows is not None and exact else -1
    batch: list[list[str]] = []
    batch_lines: list[int] = []

    def built(row: list[str], row_line: int) -> GeocodeEntity | None:
        """The entity of a row (None for a blank one), its problems reported."""
        nonlocal blank_rows, objects
        count = len(row)
        cells: dict[str, str] = {}
        for index, name in named:
            if index >= count:
                break
            value = row[index].strip()
            if value:
                cells[name] = value
        extra = _extra_cells(row, width, holes) if count > width or holes else None
        if not cells and not extra:
            blank_rows += 1
            if blank_rows > MAX_BLANK_ROWS:
                raise _too_many_blank_rows(row_line)
            return None
        entity = _row_entity(cells, extra, row_line, fmt, on_issue)
        if complete is not None:
            complete(entity, cells)
        if entity.responses:
            response = entity.responses[0]
            objects += len(response.geocode_points) + len(response.query_parse_values)
            if objects > budget:
                raise too_many_elements(budget, row_line)
        return entity

    def screened() -> Iterator[Scanned]:
        """The batch, as runs of plain rows and the other rows built."""
        nonlocal batch, batch_lines
        taken, taken_lines = batch, batch_lines
        batch, batch_lines = [], []
        kinds = rows.batch(taken)  # type: ignore[union-attr]
        if kinds is not None:
            run = PlainRun()
            run.lines = taken_lines
            run.ids = list(map(str.strip, map(itemgetter(id_index), taken)))
            run.kinds = kinds
            yield run
            return
        run = PlainRun()
        try:
            for row, row_line in zip(taken, taken_lines, strict=True):
                plan = rows.plan_of(tuple(map(bool, row)))  # type: ignore[union-attr]
                if plan is not None and plan.passes(row):
                    run.lines.append(row_line)
                    run.ids.append(row[id_index].strip())
                    run.kinds.append(plan.kind)
                    continue
                entity = built(row, row_line)
                if entity is None:
                    continue
                if run.ids:
                    yield run
                    run = PlainRun()
                yield (row_line, entity.id, entity.kind, entity)
        finally:
            if run.ids:  # what was read before an error counts
                yield run

    batch_size = PlainRun.SIZE
    try:
        try:
            for row in reader:  # (once per row: a for loop, not next() in a try, costs less)
                count = len(row)
                if row_chars > MAX_ROW_CHARS or count > MAX_ROW_CELLS:
                    _check_row(row_chars, count, len(names), line)
                row_chars = 0  # (the next row's lines are read after this)
                row_line, line = line, first_line + reader.line_num
                if count == screened_width:
                    batch.append(row)
                    batch_lines.append(row_line)
                    if len(batch) == batch_size:
                        yield from screened()
                    continue
                if batch:
                    yield from screened()
                entity = built(row, row_line)
                if entity is None:
                    continue
                if rows is None:
                    yield entity
                else:
                    yield (row_line, entity.id, entity.kind, entity)
        except csv.Error as exc:
            raise FeedError("malformed-row", _csv_problem(exc), line=line) from exc
        if batch:
            yield from screened()
    except FeedError:
        if batch:  # what was read before the error counts (unless it holds an earlier error)
            yield from screened()
        raise


def _check_row(chars: int, cells: int, columns: int, line: int) -> None:
    """Refuse a row over ``MAX_ROW_CHARS`` characters or ``MAX_ROW_CELLS`` cells."""
    if chars > MAX_ROW_CHARS:
        raise _row_too_long(line)
    if cells > MAX_ROW_CELLS:
        raise FeedError(
            "too-many-cells",
            f"the row has {cells:,} cells; at most {MAX_ROW_CELLS:,} are read (the header "
            f"has {columns:,} columns)",
            line=line,
        )


def _row_entity(
    cells: dict[str, str], extra: list[int] | None, line: int, fmt: str, on_issue: IssueHandler
) -> GeocodeEntity:
    """The entity of a row's non-empty trimmed ``cells``, its problems told to ``on_issue``."""
    entity_id = cells.get(col.ID)
    if "\x00" in "".join(cells.values()):  # one C search, not one per cell
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

    def problem(code: str, message: str) -> None:
        on_issue(Issue(code, message, line=line, entity_id=entity_id), code in _ERROR_CODES)

    return col.entity_from_cells(cells, line=line, problem=problem)


def _too_many_blank_rows(line: int) -> FeedError:
    return FeedError(
        "too-many-blank-rows",
        f"the file has more than {MAX_BLANK_ROWS:,} blank rows (empty lines or only "
        "delimiters); remove them",
        line=line,
    )


def _row_too_long(line: int) -> FeedError:
    return FeedError(
        "row-too-long",
        f"the row is longer than {MAX_ROW_CHARS:,} characters (a line without an end, or an "
        "unclosed quote?); rows are a few hundred characters",
        line=line,
    )


def _extra_cells(row: list[str], width: int, holes: list[int]) -> list[int]:
    """1-based positions of the non-empty cells outside the named columns (few, usually none)."""
    extra = [index + 1 for index in holes if index < len(row) and row[index].strip()]
    tail = row[width:]
    if tail and "".join(tail).strip():
        extra += [width + offset + 1 for offset, cell in enumerate(tail) if cell.strip()]
    return extra


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

    def write(self, entity: GeocodeEntity) -> int:
        """Write ``entity``; return how many characters were replaced by U+FFFD (lone
        surrogates, which UTF-8 cannot encode; no file read here holds one)."""
        cells = col.entity_to_cells(entity)
        row = [cells.get(name, "") if name else "" for name in self._columns]
        replaced = replace_surrogates(row)
        self._csv.writerow(row)
        return replaced

    def finish(self) -> None:
        self._text.flush()

    flush = finish  # text has no closing part


def replace_surrogates(row: list[str]) -> int:
    """Replace lone surrogates (not characters: UTF-8 cannot encode them) in ``row`` by
    U+FFFD, in place; return how many there were."""
    replaced = 0
    if not all(map(str.isascii, row)):
        for index, value in enumerate(row):
            if not value.isascii():
                row[index], count = _SURROGATE.subn("\ufffd", value)
                replaced += count
    return replaced
