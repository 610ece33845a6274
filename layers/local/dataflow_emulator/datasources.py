"""Data sources served by the Data Source Download dataflow, and their ``MainRoot`` XML export.

The export is an ADO.NET DataSet document: an inline ``xs:schema`` describing one entity type
(with ``EntityID`` as the primary key), then one element per entity, named after the entity
type, a property absent when it has no value. Besides the built-in sample, a data source with a
column of every type (``every_type_data_source``) and one of any size whose rows are made on
demand (``generated_data_source``, 200,000 entities without holding them) are there for tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload
from xml.sax.saxutils import escape, quoteattr

# (property name, xs type) of the built-in sample, in column order.
_SAMPLE_PROPERTIES = (
    ("EntityID", "xs:string"),
    ("Name", "xs:string"),
    ("Latitude", "xs:double"),
    ("Longitude", "xs:double"),
    ("AddressLine", "xs:string"),
    ("Locality", "xs:string"),
    ("AdminDistrict", "xs:string"),
    ("CountryRegion", "xs:string"),
    ("PostalCode", "xs:string"),
    ("Phone", "xs:string"),
    ("Open", "xs:long"),
    ("Close", "xs:long"),
    ("IsWheelchairAccessible", "xs:boolean"),
)

# Invented bakeries around Lake Washington; coordinates are real places, shops are not.
_SAMPLE_ROWS = (
    (
        "1",
        "Overlake Bakehouse",
        47.6445,
        -122.1337,
        "15000 NE 40th St",
        "Redmond",
        "WA",
        "United States",
        "98052",
        "425-555-0101",
        700,
        1800,
        True,
    ),
    (
        "2",
        "Downtown Redmond Rolls",
        47.6740,
        -122.1215,
        "16300 Cleveland St",
        "Redmond",
        "WA",
        "United States",
        "98052",
        "425-555-0102",
        630,
        1700,
        True,
    ),
    (
        "3",
        "Bellevue Crumb",
        47.6150,
        -122.2010,
        "500 108th Ave NE",
        "Bellevue",
        "WA",
        "United States",
        "98004",
        "425-555-0103",
        800,
        2000,
        False,
    ),
    (
        "4",
        "Kirkland Waterfront Loaves",
        47.6769,
        -122.2060,
        "100 Lake St S",
        "Kirkland",
        "WA",
        "United States",
        "98033",
        "425-555-0104",
        700,
        1900,
        True,
    ),
    (
        "5",
        "Pike Place Pastry",
        47.6097,
        -122.3422,
        "85 Pike St",
        "Seattle",
        "WA",
        "United States",
        "98101",
        "206-555-0105",
        600,
        1800,
        False,
    ),
)


def _hex(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class DataSource:
    """A data source: where it lives (access id, name), who may download it, what it holds."""

    name: str
    entity_type: str
    properties: tuple[tuple[str, str], ...]
    rows: Sequence[tuple[object, ...]]  # a tuple, or rows made on demand (GeneratedRows)
    access_id: str = ""
    master_key: str | None = None  # None: any key the emulator accepts is a master key
    versions: tuple[str, ...] = field(default=())  # job ids of loadable versions, newest first
    # A data source whose downloads always end Aborted with this message, and this error log
    # behind their "failed" link (as the service's do when an export fails).
    abort_message: str | None = None
    error_log: bytes | None = None

    def __post_init__(self) -> None:
        if not self.access_id:
            object.__setattr__(self, "access_id", _hex(f"access:{self.name}"))
        if not self.versions:
            object.__setattr__(self, "versions", (_hex(f"version:{self.name}"),))

    def export_chunks(self, *, wrong_xs_namespace: bool = False) -> Iterator[bytes]:
        """The MainRoot document, in pieces."""
        xs = (
            "https://www.w3.org/2001/XMLSchema"
            if wrong_xs_namespace
            else "http://www.w3.org/2001/XMLSchema"
        )
        name, etype = quoteattr(self.name), quoteattr(self.entity_type)
        head = [
            '<?xml version="1.0" encoding="utf-8"?>',
            "<MainRoot>",
            f'  <xs:schema xmlns="" xmlns:xs="{xs}" '
            f'xmlns:msdata="urn:schemas-microsoft-com:xml-msdata" id={name}>',
            f'    <xs:element name={name} msdata:IsDataSet="true" msdata:UseCurrentLocale="true">',
            "      <xs:complexType>",
            '        <xs:choice minOccurs="0" maxOccurs="unbounded">',
            f"          <xs:element name={etype}>",
            "            <xs:complexType>",
            "              <xs:sequence>",
        ]
        head += [
            f"                <xs:element name={quoteattr(prop)} type={quoteattr(xstype)} "
            'minOccurs="0" />'
            for prop, xstype in self.properties
        ]
        head += [
            "              </xs:sequence>",
            "            </xs:complexType>",
            "          </xs:element>",
            "        </xs:choice>",
            "      </xs:complexType>",
            '      <xs:unique name="Constraint1" msdata:PrimaryKey="true">',
            f"        <xs:selector xpath={quoteattr('.//' + self.entity_type)} />",
            '        <xs:field xpath="EntityID" />',
            "      </xs:unique>",
            "    </xs:element>",
            "  </xs:schema>",
        ]
        yield ("\n".join(head) + "\n").encode("utf-8")
        lines: list[str] = []
        for row in self.rows:
            lines.append(f"  <{self.entity_type}>")
            for (prop, _), value in zip(self.properties, row, strict=True):
                if value is None:
                    continue
                lines.append(f"    <{prop}>{escape(_xml_value(value))}</{prop}>")
            lines.append(f"  </{self.entity_type}>")
            if len(lines) >= _LINES_PER_CHUNK:  # pieces of ~64 KB, not one per entity
                yield ("\n".join(lines) + "\n").encode("utf-8")
                lines = []
        if lines:
            yield ("\n".join(lines) + "\n").encode("utf-8")
        yield b"</MainRoot>\n"


_LINES_PER_CHUNK = 2048


def _xml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sample_data_source() -> DataSource:
    """The built-in data source every emulator serves unless configured otherwise."""
    return DataSource(
        name="EmulatorSampleBakeries",
        entity_type="Bakery",
        properties=_SAMPLE_PROPERTIES,
        rows=_SAMPLE_ROWS,
    )


# One column of every type a data source declares (Edm.String, Int64, Double, Boolean, DateTime).
_EVERY_TYPE_PROPERTIES = (
    ("EntityID", "xs:string"),
    ("Name", "xs:string"),
    ("Latitude", "xs:double"),
    ("Longitude", "xs:double"),
    ("Visitors", "xs:long"),
    ("Rating", "xs:double"),
    ("IsOpen", "xs:boolean"),
    ("Opened", "xs:dateTime"),
    ("Notes", "xs:string"),
)
# Values that a careless conversion gets wrong: markup characters, non-ASCII text, leading
# zeros in a string key, 64-bit and negative numbers, exponents, 1/0 booleans, time zones,
# an entity with no coordinates and one with every optional property absent.
_EVERY_TYPE_ROWS = (
    ("001", "Caf\u00e9 & Bakery <Main>", 47.6097, -122.3422, 9007199254740993, 4.5, True,
     "2011-11-17T12:50:08.8179772-08:00", "say \"hi\", then leave"),
    ("002", "\u6771\u4eac Station", 35.681236, 139.767125, -42, 1e-05, False,
     "2020-02-29T00:00:00Z", None),
    ("003", "No coordinates yet", None, None, 0, -0.5, "1", "1999-12-31T23:59:59", "=1+2"),
    ("004", "Bare", 0.0, 0.0, None, None, None, None, None),
)  # fmt: skip


def every_type_data_source(**overrides: object) -> DataSource:
    """A data source with a column of each type and the values that test a conversion."""
    values: dict = {
        "name": "EveryTypeSource",
        "entity_type": "Landmark",
        "properties": _EVERY_TYPE_PROPERTIES,
        "rows": _EVERY_TYPE_ROWS,
        **overrides,
    }
    return DataSource(**values)


_GENERATED_PROPERTIES = (
    ("EntityID", "xs:string"),
    ("Name", "xs:string"),
    ("Latitude", "xs:double"),
    ("Longitude", "xs:double"),
    ("Visits", "xs:long"),
    ("IsActive", "xs:boolean"),
)


class GeneratedRows(Sequence[tuple[object, ...]]):
    """``count`` rows of ``_GENERATED_PROPERTIES``, each made when it is read: a data source
    of hundreds of thousands of entities costs the emulator no memory until it is exported."""

    def __init__(self, count: int) -> None:
        self._count = count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> tuple[object, ...]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[object, ...]]: ...
    def __getitem__(self, index: int | slice) -> object:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not -self._count <= index < self._count:
            raise IndexError(index)
        n = index % self._count
        return (
            f"E{n:07d}",
            f"Site {n}",
            round(-60 + (n * 0.000617) % 120, 6),
            round(-170 + (n * 0.001373) % 340, 6),
            n * 7,
            n % 3 != 0,
        )


def generated_data_source(
    name: str = "GeneratedSites", entities: int = 200_000, **overrides: object
) -> DataSource:
    """A data source of ``entities`` made-up sites (rows generated on demand)."""
    values: dict = {
        "name": name,
        "entity_type": "Site",
        "properties": _GENERATED_PROPERTIES,
        "rows": GeneratedRows(entities),
        **overrides,
    }
    return DataSource(**values)
