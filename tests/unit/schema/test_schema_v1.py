"""Data Schema 1.0: the files old clients send are read, validated, converted and written back.

The fixtures are small files of our own in the shapes the notes describe: a Perl-style pipe
file (Id, no culture, query), full 31-field rows, a 1.0 XML feed without Version, and 1.0
outputs (points as Rooftop/Interpolated locations, the status on the response).
"""

from __future__ import annotations

import io

import pytest
from geocode_dataflow.cli import main
from geocode_dataflow.schema import convert_feed, open_feed, validate_feed, write_feed
from geocode_dataflow.schema.v1 import FIELDS

NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"


def row(**cells: str) -> str:
    """A 31-field pipe row from ``position=value`` (``f0`` .. ``f30``)."""
    fields = [""] * len(FIELDS)
    for name, value in cells.items():
        fields[int(name[1:])] = value
    return "|".join(fields)


PERL_STYLE = "7||Hauptstrasse 5, Heidelberg\n8||Plaza Mayor, Madrid\n"
FULL_ROWS = "\n".join(
    [
        row(f0="A1", f1="en-GB", f3="221B Baker St", f4="England", f5="UK", f6="Marylebone",
            f8="London", f9="NW1 6XE", f11="Medium"),
        row(f0="A2", f1="fr-FR", f29="43.2965", f30="5.3698"),
        row(f0="A3", f1="en-US"),
    ]
) + "\n"  # fmt: skip
OUTPUT_ROW = row(
    f0="A1", f1="en-GB", f3="221B Baker St", f8="London", f12="221B Baker Street",
    f13="England", f14="United Kingdom", f15="Greater London", f17="London", f18="NW1 6XE",
    f20="51.5238", f21="-0.1586", f22="51.5237", f23="-0.1585", f24="High",
    f25="221B Baker Street, London", f26="Address", f27="Success",
)  # fmt: skip

XML_INPUT = f"""<?xml version="1.0" encoding="utf-8"?>
<GeocodeFeed xmlns="{NS}">
  <GeocodeEntity Id="x1" xmlns="{NS}">
    <GeocodeRequest Culture="de-DE" Query="Marienplatz 1 München" MaxResults="1"></GeocodeRequest>
  </GeocodeEntity>
  <GeocodeEntity Id="x2">
    <GeocodeRequest Culture="en-US" IncludeNeighborhood="1">
      <Address AddressLine="350 5th Ave" AdminDistrict="NY" Locality="New York" District="New York Co."/>
    </GeocodeRequest>
  </GeocodeEntity>
  <GeocodeEntity Id="x3">
    <ReverseGeocodeRequest Culture="it-IT" IncludeEntityTypes="PopulatedPlace">
      <Location Latitude="41.9028" Longitude="12.4964"/>
      <ConfidenceFilter MinimumConfidence="High"/>
    </ReverseGeocodeRequest>
  </GeocodeEntity>
</GeocodeFeed>
"""

XML_OUTPUT = f"""<GeocodeFeed xmlns="{NS}">
  <GeocodeEntity Id="x2">
    <GeocodeRequest Culture="en-US" IncludeNeighborhood="true">
      <Address AddressLine="350 5th Ave" AdminDistrict="NY" Locality="New York"/>
    </GeocodeRequest>
    <GeocodeResponse DisplayName="350 5th Ave, New York, NY 10118" EntityType="Address" Confidence="High" StatusCode="Success">
      <Address AddressLine="350 5th Ave" AdminDistrict="NY" District="New York Co." Locality="New York" Neighborhood="Midtown"/>
      <InterpolatedLocation Latitude="40.7484" Longitude="-73.9857"/>
    </GeocodeResponse>
    <DataQuality feedAlias="geofeed1"/>
  </GeocodeEntity>
  <GeocodeEntity Id="x4">
    <GeocodeRequest Culture="en-US"><Address/></GeocodeRequest>
    <GeocodeResponse StatusCode="BadRequest" FaultReason="To geocode a location, you must specify at least one address field."/>
  </GeocodeEntity>
</GeocodeFeed>
"""


def entities(data: str, name: str):
    with open_feed(io.BytesIO(data.encode()), name) as reader:
        found = list(reader)
        return reader, found


def test_a_perl_style_pipe_file_is_read_as_1_0():
    reader, (first, second) = entities(PERL_STYLE, "jobs.txt")
    assert (reader.format, reader.schema_version) == ("pipe", "1.0")
    assert (first.id, first.geocode_request.query, first.line) == (
        "7",
        "Hauptstrasse 5, Heidelberg",
        1,
    )
    assert second.geocode_request.culture is None
    report = validate_feed(io.BytesIO(PERL_STYLE.encode()), "jobs.txt")
    assert report.valid and report.schema_version == "1.0" and report.entity_count == 2
    assert "Data Schema 1.0" in report.to_text()


def test_full_1_0_rows_map_by_position():
    reader, (forward, reverse, empty) = entities(FULL_ROWS, "rows.pipe")
    address = forward.geocode_request.address
    assert (address.address_line, address.admin_district2, address.postal_code) == (
        "221B Baker St", "Marylebone", "NW1 6XE",
    )  # fmt: skip
    assert forward.geocode_request.min_confidence == "Medium"
    assert (reverse.kind, reverse.reverse_geocode_request.latitude) == ("reverse", "43.2965")
    assert reverse.reverse_geocode_request.culture == "fr-FR"  # 1.0's culture field serves both
    report = validate_feed(io.BytesIO(FULL_ROWS.encode()), "rows.pipe")
    assert report.valid and report.invalid_entity_count == 1  # A3 has no address field
    assert [w.code for w in report.warnings] == ["no-address-field"]


def test_a_1_0_output_row_carries_its_points_and_status():
    _, (entity,) = entities(OUTPUT_ROW + "\n", "succeeded.pipe")
    (response,) = entity.responses
    assert entity.status_code == "Success" and response.name == "221B Baker Street, London"
    assert response.address.admin_district2 == "Greater London"
    rooftop, interpolated = response.geocode_points
    assert (rooftop.calculation_method, rooftop.usage_types) == ("Rooftop", "Display")
    assert (interpolated.calculation_method, interpolated.usage_types) == ("Interpolation", "Route")
    assert (response.point.latitude, response.point.longitude) == ("51.5238", "-0.1586")


def test_a_version_line_saying_1_0_and_a_1_0_header_row_are_understood():
    header = "|".join(["GeocodeEntity/@Id", "GeocodeEntity/GeocodeRequest/@Culture"] + [""] * 29)
    for data, first_line in (
        (f"Bing Spatial Data Services, 1.0\n{PERL_STYLE}", 2),
        (f"{header}\n{PERL_STYLE}", 2),
        (f"Bing Spatial Data Services, 1.0\n{header}\n{PERL_STYLE}", 3),
    ):
        reader, found = entities(data, "jobs.pipe")
        assert reader.schema_version == "1.0"
        assert [(e.id, e.line) for e in found] == [("7", first_line), ("8", first_line + 1)]


def test_a_1_0_xml_feed_reads_into_the_model():
    reader, (query, address, reverse) = entities(XML_INPUT, "old.xml")
    assert reader.schema_version == "1.0"
    assert query.geocode_request.max_results == 1
    assert address.geocode_request.address.admin_district2 == "New York Co."
    assert address.geocode_request.include_neighborhood is True
    assert reverse.reverse_geocode_request.min_confidence == "High"
    report = validate_feed(io.BytesIO(XML_INPUT.encode()), "old.xml")
    assert report.valid and report.schema_version == "1.0", report.to_text()
    assert report.warnings == []


def test_a_1_0_xml_output_moves_the_status_to_the_entity_and_skips_data_quality():
    _, (matched, failed) = entities(XML_OUTPUT, "succeeded.xml")
    assert matched.status_code == "Success" and len(matched.responses) == 1
    response = matched.responses[0]
    assert response.name.startswith("350 5th Ave") and response.entity_type == "Address"
    assert response.address.admin_district2 == "New York Co."
    assert response.address.neighborhood == "Midtown"
    (point,) = response.geocode_points
    assert (point.calculation_method, point.usage_types) == ("Interpolation", "Display")
    assert failed.status_code == "BadRequest" and failed.responses == []
    assert failed.fault_reason.startswith("To geocode a location")
    report = validate_feed(io.BytesIO(XML_OUTPUT.encode()), "succeeded.xml")
    assert [w.code for w in report.warnings] == ["namespace", "no-address-field"][1:]


@pytest.mark.parametrize("fmt", ["xml", "csv", "pipe", "tab"])
def test_1_0_is_written_back_and_reads_the_same(fmt):
    _, originals = entities(XML_OUTPUT, "succeeded.xml")
    sink = io.BytesIO()
    write_feed(originals, sink, fmt, version="1.0")
    text = sink.getvalue().decode()
    assert "Bing Spatial Data Services" not in text and 'Version="' not in text
    with open_feed(io.BytesIO(sink.getvalue()), f"out.{fmt}") as reader:
        again = list(reader)
        assert reader.schema_version == "1.0"
    assert [e.id for e in again] == ["x2", "x4"]
    assert again[0].responses[0].geocode_points == originals[0].responses[0].geocode_points
    assert again[0].responses[0].address.admin_district2 == "New York Co."
    assert (again[1].status_code, again[1].fault_reason) == (
        originals[1].status_code,
        originals[1].fault_reason,
    )


def test_1_0_xml_output_puts_the_address_first_and_the_point_second():
    _, originals = entities(XML_OUTPUT, "succeeded.xml")
    sink = io.BytesIO()
    write_feed(originals, sink, "xml", version="1.0")
    from xml.etree import ElementTree

    root = ElementTree.fromstring(sink.getvalue())
    response = root.find(f"{{{NS}}}GeocodeEntity/{{{NS}}}GeocodeResponse")
    assert [child.tag.split("}")[1] for child in response] == ["Address", "InterpolatedLocation"]
    assert response.get("StatusCode") == "Success" and response.get("DisplayName")
    failed = root.findall(f"{{{NS}}}GeocodeEntity")[1].find(f"{{{NS}}}GeocodeResponse")
    assert failed.attrib.keys() == {"StatusCode", "FaultReason"}


def test_convert_turns_1_0_into_2_0_and_says_what_2_0_to_1_0_drops():
    sink = io.BytesIO()
    assert convert_feed(io.BytesIO(FULL_ROWS.encode()), sink, "csv", "rows.pipe") == 3
    text = sink.getvalue().decode()
    assert text.startswith("Bing Spatial Data Services, 2.0")
    with open_feed(io.BytesIO(sink.getvalue())) as reader:
        assert reader.schema_version == "2.0"
        assert list(reader)[0].geocode_request.address.admin_district2 == "Marylebone"

    modern = (
        f'<GeocodeFeed Version="2.0" xmlns="{NS}"><GeocodeEntity Id="m">'
        '<GeocodeRequest Query="q" StrictMatch="true"/>'
        '<GeocodeResponse Name="n" MatchCodes="Good"><GeocodePoint Latitude="1" Longitude="2" '
        'CalculationMethod="Rooftop" UsageTypes="Display"/></GeocodeResponse>'
        "<StatusCode>Success</StatusCode><TraceId>t|u|v|w, x</TraceId></GeocodeEntity></GeocodeFeed>"
    )
    losses: list = []
    convert_feed(io.BytesIO(modern.encode()), io.BytesIO(), "pipe", losses=losses, to_version="1.0")
    (loss,) = losses
    assert loss.code == "dropped-in-conversion" and "1.0 text" in loss.message
    for dropped in ("StrictMatch", "TraceId", "MatchCodes"):
        assert dropped in loss.message


def test_the_cli_validates_and_converts_a_1_0_file(tmp_path, capsys):
    source = tmp_path / "old.txt"
    source.write_text(PERL_STYLE)
    assert main(["validate", str(source)]) == 0
    assert "Data Schema 1.0" in capsys.readouterr().out
    target = tmp_path / "new.csv"
    assert main(["convert", str(source), "--to", "csv", "-o", str(target)]) == 0
    report = validate_feed(target)
    assert report.valid and report.schema_version == "2.0" and report.entity_count == 2


def test_spreadsheet_exports_are_tables_not_1_0():
    padded = (
        "Store,Address,City,State,Zip"
        + "," * 26
        + "\nS1,1 Main St,Springfield,IL,62701"
        + "," * 26
        + "\n"
    )
    with open_feed(io.BytesIO(padded.encode()), "t.csv") as reader:
        assert reader.schema_version != "1.0" and reader.table is not None
    for unmappable in ("Name,Age,Notes\nBob,33,hi\n", "Name,,Notes\nBob,,hi\n"):
        report = validate_feed(io.BytesIO(unmappable.encode()), "t.csv")
        assert not report.valid and report.schema_version != "1.0"
        assert report.errors[0].code in ("unmapped-table", "wrong-version"), report.to_text()


def test_a_1_0_version_line_then_a_header_row_keeps_the_rows_delimiter():
    rows = (
        "Bing Spatial Data Services, 1.0\nId|Culture\n"
        + row(f0="1", f1="en-US", f2="1 Main St, Redmond")
        + "\n"
    )
    reader, (entity,) = entities(rows, "t.txt")
    assert (reader.format, entity.id, entity.geocode_request.query) == (
        "pipe",
        "1",
        "1 Main St, Redmond",
    )


def test_a_1_0_response_without_a_display_name_keeps_its_address_and_point():
    data = (
        f'<GeocodeFeed xmlns="{NS}"><GeocodeEntity Id="a"><GeocodeRequest Query="Paris"/>'
        '<GeocodeResponse StatusCode="Success"><Address Locality="Paris"/>'
        '<RooftopLocation Latitude="48.85" Longitude="2.35"/></GeocodeResponse></GeocodeEntity></GeocodeFeed>'
    )
    _, (entity,) = entities(data, "out.xml")
    (response,) = entity.responses
    assert response.address.locality == "Paris" and response.point.latitude == "48.85"
    assert entity.status_code == "Success"
