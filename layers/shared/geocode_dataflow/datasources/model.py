"""What a downloaded data source is made of: its inline schema (entity type, typed columns,
primary key) and the typed value of each cell.

The Data Source Download dataflow hands back an ADO.NET DataSet: the column types are XML
Schema types (``xs:long``, ``xs:double``, ...), which map one to one onto the entity data
model types a data source is declared with (``Edm.Int64``, ``Edm.Double``, ...). Both are
kept in ``schema.json`` so the data source can be declared again elsewhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geocode_dataflow.errors import PermanentError
from geocode_dataflow.schema.columns import parse_bool

STRING, LONG, DOUBLE, BOOLEAN, DATETIME, GEOGRAPHY = (
    "string",
    "long",
    "double",
    "boolean",
    "dateTime",
    "geography",
)
# XML Schema type (local name) -> our type. Anything else is kept as text (``string``).
_XS_TYPES = {
    "string": STRING,
    "long": LONG,
    "int": LONG,
    "integer": LONG,
    "short": LONG,
    "double": DOUBLE,
    "float": DOUBLE,
    "decimal": DOUBLE,
    "boolean": BOOLEAN,
    "dateTime": DATETIME,
    "date": DATETIME,
}
# Our type -> the data source's declared type (Load Data Source schema).
EDM_TYPES = {
    STRING: "Edm.String",
    LONG: "Edm.Int64",
    DOUBLE: "Edm.Double",
    BOOLEAN: "Edm.Boolean",
    DATETIME: "Edm.DateTime",
    GEOGRAPHY: "Edm.Geography",
}
_LONG = re.compile(r"[+-]?[0-9]+")  # xs:long's lexical form: ASCII digits only
_DOUBLE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?INF|NaN")
_INT64 = (-(2**63), 2**63 - 1)


class DataSourceFormatError(PermanentError):
    """The download is not a data source export this project reads (or exceeds a cap).

    ``code`` names the problem (``not-well-formed``, ``no-schema``, ``bad-value``, ...);
    ``line`` is the line of the XML where it was found. Retrying the same bytes cannot help.
    """

    def __init__(self, code: str, message: str, *, line: int | None = None) -> None:
        super().__init__(f"{message} (line {line})" if line else message)
        self.code = code
        self.line = line


def column_type(xs_type: str | None, data_type: str | None = None) -> str:
    """Our type for an ``xs:`` type name (prefix ignored: the documented download declares
    ``xs`` as ``https://www.w3.org/...``), or an ``msdata:DataType`` naming a geography."""
    if data_type and "geography" in data_type.lower():
        return GEOGRAPHY
    local = (xs_type or "string").rpartition(":")[2]
    return _XS_TYPES.get(local, STRING)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of STRING, LONG, DOUBLE, BOOLEAN, DATETIME, GEOGRAPHY
    xs_type: str  # as declared, e.g. "xs:long"


@dataclass
class DataSourceSchema:
    """The inline schema: the data set's name, its one entity type, columns in order."""

    data_set: str
    entity_type: str
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)

    def column(self, name: str) -> Column | None:
        folded = name.casefold()
        return next((c for c in self.columns if c.name.casefold() == folded), None)

    @property
    def latitude(self) -> Column | None:
        return self._numeric("Latitude")

    @property
    def longitude(self) -> Column | None:
        return self._numeric("Longitude")

    @property
    def geography(self) -> Column | None:
        return next((c for c in self.columns if c.type == GEOGRAPHY), None)

    def _numeric(self, name: str) -> Column | None:
        found = self.column(name)
        return found if found is not None and found.type in (DOUBLE, LONG) else None

    def to_document(self, *, entities: int, located: int) -> dict[str, Any]:
        """``schema.json``: enough to declare the data source again elsewhere."""
        geometry: dict[str, str] | None = None
        if self.geography is not None:
            geometry = {"geography": self.geography.name}
        elif self.latitude is not None and self.longitude is not None:
            geometry = {"latitude": self.latitude.name, "longitude": self.longitude.name}
        return {
            "data_source": self.data_set,
            "entity_type": self.entity_type,
            "primary_key": list(self.primary_key),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "edm_type": EDM_TYPES[c.type],
                    "xs_type": c.xs_type,
                    "primary_key": c.name in self.primary_key,
                }
                for c in self.columns
            ],
            "geometry": geometry,
            "entities": entities,
            "located_entities": located,
        }


def typed_value(column: Column, text: str | None, line: int) -> Any:
    """The cell's value in its column's type (None for an absent or empty element).

    A value that is not of its declared type means the download is not what the schema says:
    the conversion stops rather than write a table another system would misread.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None if column.type != STRING else text
    try:
        if column.type == LONG:
            if not _LONG.fullmatch(value):
                raise ValueError(value)
            number = int(value)
            if not _INT64[0] <= number <= _INT64[1]:
                raise ValueError(value)
            return number
        if column.type == DOUBLE:
            if not _DOUBLE.fullmatch(value):
                raise ValueError(value)
            return float(value.replace("INF", "inf"))
        if column.type == BOOLEAN:
            return parse_bool(value)
        if column.type == DATETIME:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return value
    except ValueError:
        raise DataSourceFormatError(
            "bad-value",
            f"{column.name}: {value[:80]!r} is not a valid {column.xs_type}",
            line=line,
        ) from None
    return text


def csv_text(value: Any) -> str:
    """A typed value as a CSV cell: integers as digits, doubles as the shortest exact
    decimal, booleans as true / false, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    return str(value)
