"""Data sources served by the Data Source Download dataflow, and their ``MainRoot`` XML export.

The export is an ADO.NET DataSet document: an inline ``xs:schema`` describing one entity type
(with ``EntityID`` as the primary key), then one element per entity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    rows: tuple[tuple[object, ...], ...]
    access_id: str = ""
    master_key: str | None = None  # None: any key the emulator accepts is a master key
    versions: tuple[str, ...] = field(default=())  # job ids of loadable versions, newest first

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
        for row in self.rows:
            lines = [f"  <{self.entity_type}>"]
            for (prop, _), value in zip(self.properties, row, strict=True):
                if value is None:
                    continue
                lines.append(f"    <{prop}>{escape(_xml_value(value))}</{prop}>")
            lines.append(f"  </{self.entity_type}>")
            yield ("\n".join(lines) + "\n").encode("utf-8")
        yield b"</MainRoot>\n"


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
