"""Writers: exact text layout, header echo, quoting, JSON cells, XML echo normalisation."""

from __future__ import annotations

import csv
import io
import json

import pytest
from geocode_dataflow.schema import (
    TEXT_COLUMNS,
    Address,
    BoundingBox,
    FeedWriter,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Point,
    QueryParseValue,
    ReverseGeocodeRequest,
    open_feed,
    write_feed,
)


def written(entities, fmt, **kwargs) -> str:
    sink = io.BytesIO()
    count = write_feed(entities, sink, fmt, **kwargs)
    assert count == len(entities)
    assert not sink.closed
    data = sink.getvalue()
    assert not data.startswith(b"\xef\xbb\xbf")
    return data.decode("utf-8")


def answered() -> GeocodeEntity:
    return GeocodeEntity(
        id="7",
        geocode_request=GeocodeRequest(culture="en-US", query='Pier 39, "Dock" | A'),
        responses=[
            GeocodeResponse(
                name="Pier 39, San Francisco",
                entity_type="LandmarkBuilding",
                confidence="High",
                match_codes="Ambiguous, Good",
                address=Address(locality="San Francisco", landmark="Pier 39"),
                geocode_points=[
                    GeocodePoint("37.8", "-122.4", "Rooftop", "Point", "Display"),
                    GeocodePoint("37.81", "-122.41", "Interpolation", "Point", "Route"),
                ],
                query_parse_values=[QueryParseValue("Landmark", "Pier 39")],
                bounding_box=BoundingBox("37.7", "-122.5", "37.9", "-122.3"),
                point=Point("37.8", "-122.4"),
            ),
            GeocodeResponse(name="second"),
        ],
        status_code="Success",
        trace_id="abc|N1|7.7.0.0|X, i-1.us-east-1c",
    )


def test_text_writer_echoes_version_and_header_tokens_verbatim():
    header = ["Id", " GeocodeRequest/Query", " StatusCode"]
    text = written(
        [GeocodeEntity(id="1", geocode_request=GeocodeRequest(query="q"), status_code="Success")],
        "csv",
        header=header,
        version_line="Bing Spatial Data Services,2.0",
    )
    assert text == (
        "Bing Spatial Data Services,2.0\r\nId, GeocodeRequest/Query, StatusCode\r\n1,q,Success\r\n"
    )


def test_text_writer_defaults_to_all_41_columns_and_standard_version_line():
    lines = written([GeocodeEntity(id="1")], "tab").split("\r\n")
    assert lines[0] == "Bing Spatial Data Services, 2.0"
    assert lines[1].split("\t") == TEXT_COLUMNS
    assert lines[2].split("\t") == ["1"] + [""] * 40


@pytest.mark.parametrize(("fmt", "delimiter"), [("csv", ","), ("tab", "\t"), ("pipe", "|")])
def test_text_writer_quotes_delimiters_quotes_and_line_breaks(fmt, delimiter):
    entity = GeocodeEntity(
        id="1",
        geocode_request=GeocodeRequest(query=f'a{delimiter}b "c"'),
        fault_reason="line\r\nbreak",
    )
    columns = ["Id", "GeocodeRequest/Query", "FaultReason"]
    text = written([entity], fmt, columns=columns)
    row = text.split("\r\n", 2)[2]
    assert row.startswith(f'1{delimiter}"a{delimiter}b ""c"""{delimiter}"line\r\nbreak"')
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert parsed[2] == ["1", f'a{delimiter}b "c"', "line\r\nbreak"]


def test_text_writer_json_cells_are_compact_string_arrays_in_service_key_order():
    columns = ["Id", "GeocodeResponse/GeocodePoints", "GeocodeResponse/QueryParseValues"]
    text = written([answered()], "tab", columns=columns)
    _, points, values = text.split("\r\n")[2].split("\t")
    assert points == (
        '"[{""Longitude"":""-122.4"",""Latitude"":""37.8"",""UsageTypes"":""Display"",'
        '""Type"":""Point"",""CalculationMethod"":""Rooftop""},{""Longitude"":""-122.41"",'
        '""Latitude"":""37.81"",""UsageTypes"":""Route"",""Type"":""Point"",'
        '""CalculationMethod"":""Interpolation""}]"'
    )
    assert json.loads(values[1:-1].replace('""', '"')) == [
        {"Property": "Landmark", "Value": "Pier 39"}
    ]


def test_text_carries_only_the_first_response():
    (entity,) = list(open_feed(io.BytesIO(written([answered()], "pipe").encode())))
    assert len(entity.responses) == 1
    assert entity.responses[0] == answered().responses[0]
    assert entity.trace_id == "abc|N1|7.7.0.0|X, i-1.us-east-1c"


def test_text_writer_header_mapped_to_canonical_columns_and_rejects_unknown():
    text = written([GeocodeEntity(id="9")], "csv", header=["Id ", "  TraceId"])
    assert text.split("\r\n")[1] == "Id ,  TraceId"
    with pytest.raises(ValueError, match="unknown column"):
        write_feed([], io.BytesIO(), "csv", columns=["Id", "Nope"])


def test_xml_writer_normalises_the_echo_like_the_service(fixture_path):
    with open_feed(fixture_path("input_repeated_ns.xml")) as reader:
        text = written(list(reader), "xml")
    assert text.startswith(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<GeocodeFeed Version="2.0" xmlns="http://schemas.microsoft.com/search/local/2010/5/geocode">\n'
    )
    # Serializer attribute order, "1" -> "true", false and empty attributes dropped (Q33).
    assert '<GeocodeRequest Culture="en-US" IncludeNeighborhood="true">' in text
    assert (
        '<Address AddressLine="10 Harbour Road" AdminDistrict="WA" Locality="Seaview" '
        'PostalCode="98001" />'
    ) in text
    assert '<GeocodeRequest MaxResults="3" Query="Kings Road" StrictMatch="true">' in text
    assert '<GeocodeRequest Culture="en-US">\n      <Address />\n    </GeocodeRequest>' in text
    assert (
        '<ReverseGeocodeRequest Culture="en-US" IncludeEntityTypes="Neighborhood" '
        'IncludeNeighborhood="true" MaxResults="5">\n'
        '      <Location Latitude="47.6" Longitude="-122.1" />\n'
        '      <ConfidenceFilter MinimumConfidence="High" />'
    ) in text
    assert text.endswith("</GeocodeFeed>\n")


def test_xml_writer_response_layout_and_escaping():
    text = written([answered()], "xml")
    assert '<GeocodeRequest Culture="en-US" Query="Pier 39, &quot;Dock&quot; | A" />' in text
    assert (
        '<GeocodeResponse Name="Pier 39, San Francisco" EntityType="LandmarkBuilding" '
        'Confidence="High" MatchCodes="Ambiguous, Good">'
    ) in text
    assert (
        '<GeocodePoint CalculationMethod="Rooftop" Latitude="37.8" Longitude="-122.4" '
        'Type="Point" UsageTypes="Display" />'
    ) in text
    order = ["<Address", "<GeocodePoint", "<QueryParseValue", "<BoundingBox", "<Point"]
    positions = [text.index(tag) for tag in order]
    assert positions == sorted(positions)
    assert text.index("<StatusCode>") < text.index("<TraceId>")
    assert text.count("<GeocodeResponse ") == 2


def test_xml_writer_round_trips_awkward_characters():
    entity = GeocodeEntity(
        id="<&>\"'",
        geocode_request=GeocodeRequest(query="tab\there\nnew\r\nline ünïcödé 東京 🙂"),
        fault_reason="a < b & c\r\nd",
    )
    (back,) = list(open_feed(io.BytesIO(written([entity], "xml").encode())))
    assert back == entity


def test_xml_writer_replaces_characters_xml_cannot_carry():
    entity = GeocodeEntity(id="1", geocode_request=GeocodeRequest(query="bell\x07"))
    (back,) = list(open_feed(io.BytesIO(written([entity], "xml").encode())))
    assert back.geocode_request.query == "bell\ufffd"


def test_reverse_request_without_location_writes_no_location_element():
    entity = GeocodeEntity(id="1", reverse_geocode_request=ReverseGeocodeRequest(culture="en-US"))
    text = written([entity], "xml")
    assert '<ReverseGeocodeRequest Culture="en-US" />' in text
    (back,) = list(open_feed(io.BytesIO(text.encode())))
    assert back == entity


def test_writers_stream_generators():
    def many():
        for i in range(1000):
            yield GeocodeEntity(id=str(i), geocode_request=GeocodeRequest(query="q"))

    for fmt in ("xml", "csv"):
        sink = io.BytesIO()
        assert write_feed(many(), sink, fmt) == 1000


def test_feed_writer_pushes_entities_into_two_sinks_in_one_pass():
    succeeded, failed = io.BytesIO(), io.BytesIO()
    with FeedWriter(succeeded, "xml") as ok, FeedWriter(failed, "xml") as bad:
        for i in range(4):
            entity = GeocodeEntity(id=str(i), status_code="Success" if i % 2 else "BadRequest")
            (ok if i % 2 else bad).write(entity)
    assert (ok.count, bad.count) == (2, 2)
    assert [e.id for e in open_feed(io.BytesIO(succeeded.getvalue()))] == ["1", "3"]
    assert [e.id for e in open_feed(io.BytesIO(failed.getvalue()))] == ["0", "2"]
    with pytest.raises(ValueError, match="closed"):
        ok.write(GeocodeEntity(id="x"))


def test_failed_production_leaves_the_xml_unfinished():
    def broken():
        yield GeocodeEntity(id="1")
        raise RuntimeError("source failed")

    sink = io.BytesIO()
    with pytest.raises(RuntimeError):
        write_feed(broken(), sink, "xml")
    assert b'Id="1"' in sink.getvalue() and b"</GeocodeFeed>" not in sink.getvalue()
