"""The input side of the results: a job's input read back as named columns, row by row.

An ``InputTable`` has ``columns`` (the user's column names, in file order) and yields
``(id, cells)`` per row in input order; the id is what the provider's result sets carry. A
Data Schema file (``FeedTable``) contributes its request columns; a plain table its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from geocode_dataflow.schema import PLAIN_FORMATS, TEXT_COLUMNS, TableMapping, open_feed
from geocode_dataflow.schema.columns import entity_to_cells
from geocode_dataflow.schema.reader import FeedReader

_RESULT_ONLY = frozenset({"StatusCode", "FaultReason", "TraceId"})
REQUEST_COLUMNS: tuple[str, ...] = tuple(
    c for c in TEXT_COLUMNS if not c.startswith("GeocodeResponse/") and c not in _RESULT_ONLY
)


class InputTable(Protocol):
    @property
    def columns(self) -> list[str]: ...

    def rows(self) -> Iterator[tuple[str | None, list[str]]]: ...


class FeedTable:
    """A Data Schema v2.0 file (any format) as a table of its request columns.

    Text files keep their header's request columns in their order; an XML feed gets the
    request columns its entities use (found in a first pass), in the text formats' order.
    ``opener`` opens the file afresh for each pass (it is read twice for XML).
    """

    def __init__(self, opener: Callable[[], BinaryIO], filename: str | None) -> None:
        self._open = opener
        self._filename = filename
        self._columns: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = self._find_columns()
        return self._columns

    def _find_columns(self) -> list[str]:
        with self._open() as source, open_feed(source, self._filename) as reader:
            if reader.format != "xml":
                assert reader.columns is not None  # noqa: S101 - set for text feeds
                return [c for c in reader.columns if c in REQUEST_COLUMNS]
            used: set[str] = set()
            for entity in reader:
                used.update(entity_to_cells(entity))
        return [c for c in REQUEST_COLUMNS if c in used]

    def rows(self) -> Iterator[tuple[str | None, list[str]]]:
        columns = self.columns
        with self._open() as source, open_feed(source, self._filename) as reader:
            for entity in reader:
                cells = entity_to_cells(entity)
                yield entity.id, [cells.get(c, "") for c in columns]


class PlainTable:
    """A plain table (csv / tsv / xlsx with the user's own header) as it was uploaded: its own
    columns, cells unchanged (leading zeros and spaces kept), keyed by the Id its entities got
    (the id column, else the 1-based data row number). ``mapping`` as the job was read with."""

    def __init__(
        self,
        opener: Callable[[], BinaryIO],
        filename: str | None,
        mapping: TableMapping | None = None,
    ) -> None:
        self._open = opener
        self._filename = filename
        self._mapping = mapping
        self._columns: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            with self._open() as source, self._reader(source) as reader:
                self._columns = list(reader.header or [])
        return self._columns

    def _reader(self, source: BinaryIO) -> FeedReader:
        return open_feed(source, self._filename, mapping=self._mapping)

    def rows(self) -> Iterator[tuple[str | None, list[str]]]:
        with self._open() as source, self._reader(source) as reader:
            yield from reader.table_rows()


def input_table(
    input_format: str | None,
    opener: Callable[[], BinaryIO],
    filename: str | None,
    mapping: TableMapping | None = None,
) -> InputTable:
    """The table of a job's input: ``PlainTable`` for a plain table, else ``FeedTable``."""
    if input_format in PLAIN_FORMATS:
        return PlainTable(opener, filename, mapping)
    return FeedTable(opener, filename)
