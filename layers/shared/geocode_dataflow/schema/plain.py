"""Plain tables as input: a CSV / TSV / .xlsx with the user's own header and no version line.

Columns are mapped to request fields by recognised names (``RECOGNISED``) or by an explicit
``TableMapping`` (a sidecar ``<input>.mapping.json`` or the CLI's ``--mapping`` / ``--column``).
Each data row becomes a ``GeocodeEntity`` (Id: the id column, else the 1-based data row
number), under the same bounds as Data Schema text files (``schema.text``); ``table_rows``
gives the user's cells unchanged, for results.csv.
"""

from __future__ import annotations

import csv
import datetime
import json
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from geocode_dataflow.schema import columns as col
from geocode_dataflow.schema.detect import text_version
from geocode_dataflow.schema.issues import FeedError, Issue, IssueHandler
from geocode_dataflow.schema.model import GeocodeEntity
from geocode_dataflow.schema.text import MAX_BLANK_ROWS, MAX_ROW_CELLS, MAX_ROW_CHARS

TABLE_FORMAT = "table"  # a delimited plain table (csv, tsv, semicolon, pipe)
XLSX_FORMAT = "xlsx"
PLAIN_FORMATS = (TABLE_FORMAT, XLSX_FORMAT)
MAPPING_SUFFIX = ".mapping.json"
ZIP_MAGIC = b"PK\x03\x04"
MAX_MAPPING_BYTES = 64 * 1024
# Errors only a plain table has (its format is known even though it was refused).
PLAIN_TABLE_CODES = frozenset({"unmapped-table", "invalid-mapping", "duplicate-field", "bad-xlsx"})
_DELIMITERS = ("\t", ";", "|", ",")  # sniffed from the header line, most specific first

# Request field -> the Data Schema v2.0 column it fills.
FIELD_COLUMNS: dict[str, str] = {
    "id": col.ID,
    "query": col.QUERY,
    "address_line": "GeocodeRequest/Address/AddressLine",
    "locality": "GeocodeRequest/Address/Locality",
    "admin_district": "GeocodeRequest/Address/AdminDistrict",
    "admin_district2": "GeocodeRequest/Address/AdminDistrict2",
    "postal_code": "GeocodeRequest/Address/PostalCode",
    "country_region": "GeocodeRequest/Address/CountryRegion",
    "culture": col.CULTURE,
    "latitude": col.LATITUDE,
    "longitude": col.LONGITUDE,
}
FIELDS = tuple(FIELD_COLUMNS)
IGNORE = "ignore"
_ADDRESS_PARTS = ("address_line", "locality", "admin_district", "admin_district2",
                  "postal_code", "country_region")  # fmt: skip
_REVERSE = ("latitude", "longitude")

# Recognised header names (folded: case, spaces, underscores, hyphens and dots ignored).
RECOGNISED: dict[str, tuple[str, ...]] = {
    "id": ("id", "identifier", "record id", "row id"),
    "query": (
        "query",
        "full address",
        "address full",
        "single line address",
        "free form address",
        "location",
        "search",
        "search text",
    ),  # fmt: skip
    "address_line": (
        "street",
        "street address",
        "address line",
        "address line 1",
        "address1",
        "addr",
        "address",
    ),  # fmt: skip
    "locality": ("city", "town", "locality", "municipality"),
    "admin_district": ("state", "province", "region", "state province", "admin district"),
    "admin_district2": ("county", "district", "admin district 2"),
    "postal_code": (
        "zip",
        "zipcode",
        "zip code",
        "postcode",
        "postal code",
        "post code",
        "postalcode",
    ),  # fmt: skip
    "country_region": ("country", "country region", "country code", "nation"),
    "culture": ("culture",),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
}


def fold(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).casefold()


_BY_FOLDED = {fold(alias): name for name, aliases in RECOGNISED.items() for alias in aliases}
_BY_FOLDED.update({fold(name): name for name in FIELDS})


def understood_names() -> str:
    """The recognised header names, for messages."""
    return "; ".join(f"{name}: {', '.join(aliases)}" for name, aliases in RECOGNISED.items())


def field_of(name: str) -> str | None:
    """The request field a header name or mapping value stands for (``IGNORE`` kept)."""
    folded = fold(name)
    if folded in (IGNORE, "none", ""):
        return IGNORE
    return _BY_FOLDED.get(folded)


@dataclass(frozen=True)
class TableMapping:
    """An explicit mapping: user column -> field (or ``ignore``), and a culture for every row."""

    columns: dict[str, str] = field(default_factory=dict)
    culture: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> TableMapping:
        if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
            raise FeedError(
                "invalid-mapping",
                'a mapping is a JSON object: {"columns": {"<your column>": "<field>"}, '
                '"culture": "en-US"}',
            )
        unknown_keys = sorted(set(data) - {"columns", "culture"})
        if unknown_keys:
            raise FeedError("invalid-mapping", f"unknown mapping key(s): {', '.join(unknown_keys)}")
        mapped: dict[str, str] = {}
        for column, target in data.get("columns", {}).items():
            chosen = field_of(target) if isinstance(target, str) else None
            if chosen is None:
                raise FeedError(
                    "invalid-mapping",
                    f"column {column!r} is mapped to {target!r}, which is not a field; fields: "
                    f"{', '.join(FIELDS)} (or {IGNORE!r})",
                )
            mapped[str(column)] = chosen
        culture = data.get("culture")
        if culture is not None and not isinstance(culture, str):
            raise FeedError("invalid-mapping", "culture must be a string such as 'en-US'")
        return cls(mapped, culture or None)

    @classmethod
    def from_json(cls, data: bytes | str) -> TableMapping:
        if len(data) > MAX_MAPPING_BYTES:
            raise FeedError("invalid-mapping", "the mapping file is larger than 64 KiB")
        try:
            return cls.from_dict(json.loads(data))
        except ValueError as exc:
            raise FeedError("invalid-mapping", f"the mapping is not valid JSON: {exc}") from exc

    def with_columns(self, extra: Mapping[str, str]) -> TableMapping:
        return TableMapping.from_dict(
            {
                "columns": {**self.columns, **extra},
                **({"culture": self.culture} if self.culture else {}),
            }
        )


def choose_mapping(header: list[str], explicit: TableMapping | None = None) -> dict[int, str]:
    """Column index -> field for ``header``: explicit entries first, then recognised names.

    ``address`` alone is the street line when the table has other address parts (city, zip...)
    and the free-form query otherwise. Raises ``unmapped-table`` when nothing maps, and
    ``duplicate-field`` when two columns claim one field.
    """
    explicit = explicit or TableMapping()
    by_name = {name.strip(): name for name in explicit.columns}
    chosen: dict[int, str] = {}
    for index, name in enumerate(header):
        key = name.strip()
        if key in by_name:
            chosen[index] = explicit.columns[by_name[key]]
            continue
        found = _BY_FOLDED.get(fold(key)) if key else None
        if found is not None:
            chosen[index] = found
    missing = [name for name in explicit.columns if name.strip() not in {h.strip() for h in header}]
    if missing:
        raise FeedError(
            "invalid-mapping",
            f"the mapping names column(s) the table does not have: {', '.join(map(repr, missing))}",
            line=1,
        )
    fields = set(chosen.values())
    for index, name in enumerate(header):
        if (
            chosen.get(index) == "address_line"
            and fold(name) == "address"
            and (name.strip() not in by_name)
        ):
            others = fields & (set(_ADDRESS_PARTS) - {"address_line"})
            if not others and "query" not in fields:
                chosen[index] = "query"
    chosen = {i: f for i, f in chosen.items() if f != IGNORE}
    seen: dict[str, int] = {}
    for index, name in chosen.items():
        if name in seen:
            raise FeedError(
                "duplicate-field",
                f"columns {header[seen[name]]!r} and {header[index]!r} both map to {name!r}; "
                "map one of them to another field (or 'ignore') in a mapping",
                line=1,
            )
        seen[name] = index
    if not (set(chosen.values()) - {"id", "culture"}):
        raise FeedError(
            "unmapped-table",
            f"none of the columns {', '.join(map(repr, header[:20]))} is an address, query or "
            f"coordinate column. Recognised names (any case, spaces or underscores): "
            f"{understood_names()}. Map other names with a mapping file "
            f'(<input>{MAPPING_SUFFIX}: {{"columns": {{"Your column": "address_line"}}}}) or '
            "validate --column 'Your column=address_line'",
            line=1,
        )
    if ("latitude" in seen) != ("longitude" in seen):
        raise FeedError(
            "unmapped-table", "a latitude column needs a longitude column, and the other way round"
        )
    return chosen


def v2_columns(mapping: dict[int, str], culture: str | None) -> list[str]:
    """The Data Schema v2.0 columns a mapped table fills, Id first, in ``TEXT_COLUMNS`` order."""
    used = {FIELD_COLUMNS[name] for name in mapping.values()} | {col.ID}
    if culture:
        used.add(col.CULTURE)
    return [c for c in col.TEXT_COLUMNS if c in used]


def sniff_delimiter(header_line: str) -> str:
    """The header's delimiter: the most frequent of tab, semicolon, pipe, comma (comma if none)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_table_header(header_line: str, delimiter: str) -> list[str]:
    stripped = header_line.rstrip("\r\n")
    try:
        tokens = next(csv.reader([stripped], delimiter=delimiter, quotechar='"'))
    except csv.Error as exc:
        raise FeedError(
            "malformed-header", f"the header line cannot be parsed: {exc}", line=1
        ) from exc
    if len(tokens) > MAX_ROW_CELLS:
        raise FeedError(
            "too-many-cells",
            f"the header line has {len(tokens):,} columns; at most {MAX_ROW_CELLS:,} are read",
            line=1,
        )
    return [token.strip().strip('"').strip() for token in tokens]


# ------------------------------------------------------------------------------------ rows
def iter_delimited_rows(
    text: TextIO, delimiter: str, *, first_line: int = 2
) -> Iterator[tuple[int, list[str]]]:
    """(physical line, cells as read) of the data rows, under the bounds of ``schema.text``."""
    line = first_line
    row_chars = 0

    def physical_lines() -> Iterator[str]:
        nonlocal row_chars
        readline = text.readline
        while row_chars <= MAX_ROW_CHARS:
            piece = readline(MAX_ROW_CHARS + 1 - row_chars)
            if not piece:
                return
            row_chars += len(piece)
            yield piece
        raise _row_too_long(line)

    reader = csv.reader(physical_lines(), delimiter=delimiter, quotechar='"', strict=True)
    while True:
        row_chars = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FeedError("malformed-row", f"the row cannot be parsed: {exc}", line=line) from exc
        if row_chars > MAX_ROW_CHARS:
            raise _row_too_long(line)
        row_line, line = line, first_line + reader.line_num
        yield row_line, row


def _row_too_long(line: int) -> FeedError:
    return FeedError(
        "row-too-long",
        f"the row is longer than {MAX_ROW_CHARS:,} characters (an unclosed quote?)",
        line=line,
    )


def cell_text(value: object) -> str:
    """An .xlsx cell as text: integers without '.0', dates in ISO form, booleans as Excel shows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime.datetime):
        return (
            value.isoformat(sep=" ")
            if value.time() != datetime.time()
            else value.date().isoformat()
        )
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def check_xlsx_size(path: str, max_bytes: int | None) -> None:
    """A workbook is a zip: its parts' declared sizes (which bound what zipfile inflates) must
    fit ``max_bytes``, like a gzip file's content, so a zip bomb is refused before reading."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FeedError("bad-xlsx", f"the file is not a readable .xlsx workbook: {exc}") from exc
    if max_bytes is not None and inflated > max_bytes:
        raise FeedError(
            "too-large",
            f"the workbook's content is {inflated:,} bytes once unzipped; the limit is "
            f"{max_bytes:,}: split it",
        )


def iter_xlsx_rows(path: str) -> tuple[list[str], Iterator[tuple[int, list[str]]], Any]:
    """The first sheet of a workbook: (header, data rows, the workbook to close)."""
    try:
        import openpyxl  # noqa: PLC0415 - only .xlsx inputs need it
        from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise FeedError("unsupported-format", "reading .xlsx needs openpyxl") from exc
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise FeedError("bad-xlsx", f"the file is not a readable .xlsx workbook: {exc}") from exc
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        workbook.close()
        raise FeedError("empty-file", "the workbook has no sheet")
    # The declared dimension is not trusted: a wrong one would drop rows (openpyxl stops at
    # it) or pad every row to a crafted width. Rows are then as long as their cells.
    sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True)

    def texts(values: tuple[object, ...], line: int) -> list[str]:
        end = len(values)
        while end and values[end - 1] in (None, ""):
            end -= 1
        values = values[:end]
        if len(values) > MAX_ROW_CELLS:
            raise FeedError(
                "too-many-cells",
                f"the row has {len(values):,} cells; at most {MAX_ROW_CELLS:,} are read",
                line=line,
            )
        cells = [cell_text(v) for v in values]
        if sum(map(len, cells)) > MAX_ROW_CHARS:
            raise _row_too_long(line)
        return cells

    header: list[str] = []
    line = 0
    for values in rows:
        line += 1
        header = [c.strip() for c in texts(values, line)]
        if any(header):
            break
    while header and not header[-1]:
        header.pop()  # a sheet's used range is often wider than its header
    if not header:
        workbook.close()
        raise FeedError("empty-file", "the first sheet is empty")
    header_line = line

    def data() -> Iterator[tuple[int, list[str]]]:
        number = header_line
        for values in rows:
            number += 1
            yield number, texts(values, number)

    return header, data(), workbook


def spool_xlsx(source: BinaryIO | bytes | str, max_bytes: int | None) -> tuple[str, Any]:
    """A workbook needs random access: a path, or the stream copied to a temporary file
    (at most ``max_bytes``). Returns (path, the temporary file to close, or None)."""
    if isinstance(source, str):
        return source, None
    spool = tempfile.NamedTemporaryFile(suffix=".xlsx")  # noqa: SIM115 - closed by the reader
    if isinstance(source, bytes):
        spool.write(source)
    else:
        limit = max_bytes if max_bytes is not None else sys.maxsize
        copied = 0
        while True:
            block = source.read(1 << 20)
            if not block:
                break
            copied += len(block)
            if copied > limit:
                spool.close()
                raise FeedError(
                    "too-large", f"the workbook is larger than {limit:,} bytes; split it"
                )
            spool.write(block)
    spool.flush()
    return spool.name, spool


# ------------------------------------------------------------------------------------ reader
class TableRows:
    """The data rows of a plain table, cells as read (padded to the header), blank rows skipped."""

    def __init__(self, header: list[str], rows: Iterator[tuple[int, list[str]]]) -> None:
        self.header = header
        self._rows = rows

    def __iter__(self) -> Iterator[tuple[int, int, list[str]]]:
        """(data row number, physical line, cells)."""
        width = len(self.header)
        blank = 0
        number = 0
        for line, row in self._rows:
            if not "".join(row).strip():
                blank += 1
                if blank > MAX_BLANK_ROWS:
                    raise FeedError(
                        "too-many-blank-rows",
                        f"the table has more than {MAX_BLANK_ROWS:,} blank rows; remove them",
                        line=line,
                    )
                continue
            number += 1
            if len(row) < width:
                row = [*row, *([""] * (width - len(row)))]
            yield number, line, row


def id_column(mapping: dict[int, str]) -> int | None:
    return next((index for index, name in mapping.items() if name == "id"), None)


def row_id(number: int, row: list[str], id_index: int | None) -> str | None:
    """The row's Id: its id cell (trimmed; None when empty), else its 1-based data row number."""
    if id_index is None:
        return str(number)
    return row[id_index].strip() or None


def table_rows(rows: TableRows, mapping: dict[int, str]) -> Iterator[tuple[str | None, list[str]]]:
    """(Id, the user's cells as read, one per header column) per data row, in input order."""
    width = len(rows.header)
    id_index = id_column(mapping)
    for number, _line, row in rows:
        yield row_id(number, row, id_index), row[:width]


def entities_of(
    rows: TableRows,
    mapping: dict[int, str],
    culture: str | None,
    on_issue: IssueHandler,
    delimiter_name: str = "delimiter",
) -> Iterator[GeocodeEntity]:
    width = len(rows.header)
    id_index = id_column(mapping)
    for number, line, row in rows:
        values = {name: row[index].strip() for index, name in mapping.items() if row[index].strip()}
        entity_id = row_id(number, row, id_index)
        if len(row) > width and "".join(row[width:]).strip():
            on_issue(
                Issue(
                    "extra-cells",
                    f"the row has non-empty cells beyond the header's {width} columns; an "
                    f"unquoted {delimiter_name} in a value spills it into the next cells: quote "
                    "such values",
                    line=line,
                    entity_id=entity_id,
                ),
                True,
            )
        if "\x00" in "".join(values.values()):
            on_issue(Issue("nul-character", "the row contains a NUL character", line=line,
                           entity_id=entity_id), True)  # fmt: skip
        forward = any(name in values for name in ("query", *_ADDRESS_PARTS))
        cells = {
            FIELD_COLUMNS[name]: value
            for name, value in values.items()
            if name != "id" and (name not in _REVERSE or not forward)
        }
        if entity_id is not None:
            cells[col.ID] = entity_id
        if culture:
            cells[col.CULTURE] = culture

        def problem(
            code: str, message: str, line: int = line, entity_id: str | None = entity_id
        ) -> None:
            on_issue(Issue(code, message, line=line, entity_id=entity_id), code == "invalid-value")

        yield col.entity_from_cells(cells, line=line, problem=problem)


def is_plain_first_line(first_line: str) -> bool:
    """A text file whose first line is not a Data Schema version line is a plain table, unless
    that line is a v2.0 header (every name a v2.0 column): a v2.0 file without its version
    line, which the reader reports as such."""
    if text_version(first_line) is not None or first_line.lstrip().startswith("<"):
        return False
    header = parse_table_header(first_line, sniff_delimiter(first_line))
    return not all(col.is_known_column(name) for name in header if name) or not any(header)


def mapping_key(input_key: str) -> str:
    """Where the sidecar mapping of an input lives: ``<input name>.mapping.json``."""
    return f"{input_key}{MAPPING_SUFFIX}"


def read_mapping_file(path: str) -> TableMapping:
    with open(path, "rb") as handle:
        return TableMapping.from_json(handle.read(MAX_MAPPING_BYTES + 1))
