"""The data source converter: the documented download and the emulator's, every column type,
the hostile-XML rules and the caps, a geography column, a data source without entities."""

from __future__ import annotations

import csv
import io
import json

import pytest
from dataflow_emulator.datasources import every_type_data_source, sample_data_source
from geocode_dataflow.datasources import DataSourceFormatError, DataSourceLimits, convert

# The downloaded data of the protocol reference (S-dl-get), verbatim: note the https://
# XMLSchema namespace of the documentation.
DOCUMENTED = """<?xml version="1.0" encoding="UTF-8" ?>
<MainRoot>
  <xs:schema xmlns="" xmlns:xs="https://www.w3.org/2001/XMLSchema" xmlns:msdata="urn:schemas-microsoft-com:xml-msdata" id="MyDataSourceName">
    <xs:element name="MyDataSourceName" msdata:IsDataSet="true" msdata:UseCurrentLocale="true">
      <xs:complexType>
        <xs:choice minOccurs="0" maxOccurs="unbounded">
          <xs:element name="MyDataSourceEntityType">
            <xs:complexType>
              <xs:sequence>
                <xs:element name="EntityID" type="xs:string" minOccurs="0"/>
                <xs:element name="Latitude" type="xs:double" minOccurs="0"/>
                <xs:element name="Longitude" type="xs:double" minOccurs="0"/>
                <xs:element name="AddressLine" type="xs:string" minOccurs="0"/>
                <xs:element name="Locality" type="xs:string" minOccurs="0"/>
                <xs:element name="AdminDistrict" type="xs:string" minOccurs="0"/>
                <xs:element name="CountryRegion" type="xs:string" minOccurs="0"/>
                <xs:element name="PostalCode" type="xs:string" minOccurs="0"/>
                <xs:element name="Confidence" type="xs:string" minOccurs="0"/>
                <xs:element name="Phone" type="xs:string" minOccurs="0"/>
                <xs:element name="Open" type="xs:long" minOccurs="0"/>
                <xs:element name="Close" type="xs:long" minOccurs="0"/>
                <xs:element name="IsWheelchairAccessible" type="xs:boolean" minOccurs="0" />
              </xs:sequence>
            </xs:complexType>
          </xs:element>
        </xs:choice>
      </xs:complexType>
      <xs:unique name="Constraint1" msdata:PrimaryKey="true">
        <xs:selector xpath=".//MyDataSourceEntityType"/>
        <xs:field xpath="EntityID"/>
      </xs:unique>
    </xs:element>
  </xs:schema>
  <MyDataSourceEntityType>
    <EntityID>1</EntityID>
    <Latitude>47.673302</Latitude>
    <Longitude>-122.118576</Longitude>
    <AddressLine>1 Microsoft Way</AddressLine>
    <Locality>Redmond</Locality>
    <AdminDistrict>WA</AdminDistrict>
    <CountryRegion>United States</CountryRegion>
    <PostalCode>98052</PostalCode>
    <Confidence>High</Confidence>
    <Phone>303-555-0188</Phone>
    <Open>700</Open>
    <Close>1800</Close>
    <IsWheelchairAccessible>true</IsWheelchairAccessible>
  </MyDataSourceEntityType>
</MainRoot>
"""


def _convert(data: bytes | str, limits: DataSourceLimits | None = None):
    raw = data.encode("utf-8") if isinstance(data, str) else data
    table, features = io.StringIO(), io.StringIO()
    result = convert(io.BytesIO(raw), table, features, limits)
    rows = list(csv.reader(io.StringIO(table.getvalue())))
    return result, rows, json.loads(features.getvalue())


def _schema_xml(columns: str, entities: str = "", entity_type: str = "Thing") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<MainRoot><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:msdata="urn:schemas-microsoft-com:xml-msdata" id="Things">
 <xs:element name="Things" msdata:IsDataSet="true"><xs:complexType><xs:choice>
  <xs:element name="{entity_type}"><xs:complexType><xs:sequence>{columns}</xs:sequence>
  </xs:complexType></xs:element></xs:choice></xs:complexType>
  <xs:unique name="Constraint1" msdata:PrimaryKey="true"><xs:selector xpath=".//{entity_type}"/>
  <xs:field xpath="EntityID"/></xs:unique></xs:element></xs:schema>{entities}</MainRoot>"""


ID_COLUMN = '<xs:element name="EntityID" type="xs:string" minOccurs="0"/>'


def test_convert_reads_the_documented_download_with_its_https_schema_namespace():
    result, rows, collection = _convert(DOCUMENTED)
    assert result.schema.data_set == "MyDataSourceName"
    assert result.schema.entity_type == "MyDataSourceEntityType"
    assert result.schema.primary_key == ["EntityID"]
    assert rows[0][:4] == ["EntityID", "Latitude", "Longitude", "AddressLine"]
    assert rows[1] == [
        "1", "47.673302", "-122.118576", "1 Microsoft Way", "Redmond", "WA", "United States",
        "98052", "High", "303-555-0188", "700", "1800", "true",
    ]  # fmt: skip
    (feature,) = collection["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-122.118576, 47.673302]}
    assert feature["id"] == "1"
    assert feature["properties"]["Open"] == 700
    assert feature["properties"]["IsWheelchairAccessible"] is True
    assert "Latitude" not in feature["properties"]
    document = result.schema_document()
    types = {c["name"]: (c["type"], c["edm_type"]) for c in document["columns"]}
    assert types["Open"] == ("long", "Edm.Int64")
    assert types["Latitude"] == ("double", "Edm.Double")
    assert types["IsWheelchairAccessible"] == ("boolean", "Edm.Boolean")
    assert document["geometry"] == {"latitude": "Latitude", "longitude": "Longitude"}
    assert (document["entities"], document["located_entities"]) == (1, 1)


@pytest.mark.parametrize("wrong_namespace", [False, True])
def test_convert_types_every_column_of_the_emulated_every_type_source(wrong_namespace):
    source = every_type_data_source()
    xml = b"".join(source.export_chunks(wrong_xs_namespace=wrong_namespace))
    result, rows, collection = _convert(xml)
    assert rows[0] == [name for name, _ in source.properties]
    assert rows[1] == [
        "001", "Café & Bakery <Main>", "47.6097", "-122.3422", "9007199254740993", "4.5",
        "true", "2011-11-17T12:50:08.8179772-08:00", 'say "hi", then leave',
    ]  # fmt: skip
    assert rows[2][4:7] == ["-42", "1e-05", "false"]
    assert rows[3][2:4] == ["", ""] and rows[3][6] == "true"  # xs:boolean 1
    assert rows[3][8] == "=1+2"  # the user's data, unchanged
    assert rows[4][4:] == ["", "", "", "", ""]
    features = collection["features"]
    assert [f["id"] for f in features] == ["001", "002", "003", "004"]
    assert features[0]["properties"]["Visitors"] == 9007199254740993  # beyond a double
    assert features[1]["properties"]["Rating"] == 1e-05
    assert features[1]["properties"]["Notes"] is None
    assert features[2]["geometry"] is None  # no coordinates: still a feature, unlocated
    assert features[3]["geometry"] == {"type": "Point", "coordinates": [0.0, 0.0]}
    assert (result.entities, result.located) == (4, 3)
    types = [c["type"] for c in result.schema_document()["columns"]]
    assert types == [
        "string", "string", "double", "double", "long", "double", "boolean", "dateTime", "string"
    ]  # fmt: skip


def test_convert_keeps_text_of_the_sample_exactly_and_orders_the_header_by_the_schema():
    source = sample_data_source()
    result, rows, _ = _convert(b"".join(source.export_chunks()))
    assert rows[0] == [name for name, _ in source.properties]
    assert [row[1] for row in rows[1:]] == [row[1] for row in source.rows]
    assert result.entities == len(source.rows)


def test_convert_takes_points_from_a_geography_column_when_the_schema_has_one():
    columns = (
        ID_COLUMN
        + '<xs:element name="Shape" msdata:DataType="Microsoft.SqlServer.Types.SqlGeography"'
        ' type="xs:anyType" minOccurs="0"/>'
        '<xs:element name="Latitude" type="xs:double" minOccurs="0"/>'
    )
    entities = (
        "<Thing><EntityID>a</EntityID><Shape>POINT (-122.5 47.25)</Shape>"
        "<Latitude>1</Latitude></Thing>"
        "<Thing><EntityID>b</EntityID><Shape>POLYGON ((0 0, 1 0, 1 1, 0 0))</Shape></Thing>"
    )
    result, rows, collection = _convert(_schema_xml(columns, entities))
    first, second = collection["features"]
    assert first["geometry"] == {"type": "Point", "coordinates": [-122.5, 47.25]}
    assert first["properties"] == {"EntityID": "a", "Latitude": 1.0}
    assert second["geometry"]["type"] == "Polygon"
    assert second["geometry"]["coordinates"] == [[[0, 0], [1, 0], [1, 1], [0, 0]]]
    assert result.schema_document()["geometry"] == {"geography": "Shape"}


def test_convert_of_a_data_source_without_entities_writes_a_header_and_an_empty_collection():
    result, rows, collection = _convert(_schema_xml(ID_COLUMN))
    assert rows == [["EntityID"]]
    assert collection == {"type": "FeatureCollection", "features": []}
    assert result.entities == 0


def test_convert_reads_a_type_given_by_a_restriction_and_skips_unknown_elements():
    columns = (
        ID_COLUMN + '<xs:element name="Code" minOccurs="0"><xs:simpleType>'
        '<xs:restriction base="xs:long"><xs:maxInclusive value="9"/></xs:restriction>'
        "</xs:simpleType></xs:element>"
    )
    entities = "<Thing><EntityID>x</EntityID><Code>7</Code><Extra><a/></Extra></Thing>"
    result, rows, collection = _convert(_schema_xml(columns, entities))
    assert result.schema.column("Code").type == "long"
    assert rows[1] == ["x", "7"]
    assert collection["features"][0]["properties"]["Code"] == 7


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ('<!DOCTYPE r [<!ENTITY a "aaaa">]><MainRoot>&a;</MainRoot>', "dtd-forbidden"),
        ("<MainRoot><Thing/></MainRoot>", "no-schema"),
        ("<MainRoot>", "not-well-formed"),
        ("", "not-well-formed"),
        (_schema_xml(ID_COLUMN, "<Other><EntityID>1</EntityID></Other>"), "unknown-entity"),
        (
            _schema_xml(
                ID_COLUMN + '<xs:element name="N" type="xs:long"/>',
                "<Thing><EntityID>1</EntityID><N>1.5</N></Thing>",
            ),
            "bad-value",
        ),
        (
            _schema_xml(ID_COLUMN, "<Thing><EntityID>1</EntityID><EntityID>2</EntityID></Thing>"),
            "duplicate-value",
        ),
        (_schema_xml(ID_COLUMN, "<Thing><EntityID><b>1</b></EntityID></Thing>"), "nested-value"),
        (
            _schema_xml(ID_COLUMN, "<Thing><EntityID>" + "x" * 140_000 + "</EntityID></Thing>"),
            "value-too-long",
        ),
        (
            _schema_xml(ID_COLUMN, "<Thing><Junk>" + "<a>" * 40 + "</a>" * 40 + "</Junk></Thing>"),
            "too-deep",
        ),
        (_schema_xml(ID_COLUMN, "<Thing><Junk/></Thing>" * 10_001), "too-many-skipped"),
        ('<MainRoot a="' + "x" * (1 << 21), "token-too-large"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
def test_convert_refuses_hostile_or_broken_downloads_with_a_named_code(document, code):
    with pytest.raises(DataSourceFormatError) as caught:
        _convert(document)
    assert caught.value.code == code


def test_convert_stops_at_the_size_and_entity_caps():
    entities = "<Thing><EntityID>1</EntityID></Thing>" * 3
    with pytest.raises(DataSourceFormatError) as caught:
        _convert(_schema_xml(ID_COLUMN, entities), DataSourceLimits(max_entities=2))
    assert caught.value.code == "too-many-entities"
    with pytest.raises(DataSourceFormatError) as caught:
        _convert(_schema_xml(ID_COLUMN, entities * 10_000), DataSourceLimits(max_bytes=100_000))
    assert caught.value.code == "too-large"
