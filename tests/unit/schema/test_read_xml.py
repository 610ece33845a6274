"""Reading XML: namespaces, order independence, responses, version, well-formedness."""

from __future__ import annotations

import io

import pytest
from geocode_dataflow.schema import (
    NAMESPACE,
    Address,
    BoundingBox,
    FeedError,
    GeocodePoint,
    Point,
    QueryParseValue,
    open_feed,
)


def feed(body: str, root: str = f'<GeocodeFeed Version="2.0" xmlns="{NAMESPACE}">') -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root}\n{body}\n</GeocodeFeed>\n'.encode()


def test_xml_with_namespace_repeated_per_entity_and_unordered_attributes(read, fixture_path):
    with open_feed(fixture_path("input_repeated_ns.xml")) as reader:
        assert reader.format == "xml" and reader.header is None and reader.columns is None
        x1, x2, x3, x4 = list(reader)
    assert x1.line == 3
    assert x1.geocode_request.include_neighborhood is True
    assert x1.geocode_request.address == Address(
        address_line="10 Harbour Road", admin_district="WA", locality="Seaview", postal_code="98001"
    )
    forward = x2.geocode_request
    assert (forward.query, forward.max_results, forward.min_confidence) == (
        "Kings Road",
        3,
        "Medium",
    )
    assert forward.include_neighborhood is False and forward.strict_match is True
    # Empty attributes are absent; an empty <Address/> stays an (empty) Address.
    assert x3.geocode_request.query is None and x3.geocode_request.address.is_empty()
    reverse = x4.reverse_geocode_request
    assert (reverse.latitude, reverse.longitude) == ("47.6", "-122.1")  # children in any order
    assert (reverse.max_results, reverse.include_neighborhood, reverse.min_confidence) == (
        5,
        True,
        "High",
    )
    assert (reverse.culture, reverse.include_entity_types) == ("en-US", "Neighborhood")


def test_xml_without_namespace_is_read_by_local_name(read, fixture_path):
    n1, n2 = read(fixture_path("input_no_namespace.xml"))
    assert (
        n1.geocode_request.query == "Space Needle"
        and n1.geocode_request.include_query_parse is True
    )
    assert n2.reverse_geocode_request.latitude == "53.48"


def test_xml_in_another_namespace_is_read_and_reported_as_a_remark():
    remarks = []
    data = feed(
        '<GeocodeEntity Id="1"><GeocodeRequest Query="q"/></GeocodeEntity>',
        root='<f:GeocodeFeed xmlns:f="urn:other" Version="2.0">',
    ).replace(b"</GeocodeFeed>", b"</f:GeocodeFeed>")
    with open_feed(
        io.BytesIO(data), on_issue=lambda issue, is_error: remarks.append((issue.code, is_error))
    ) as r:
        assert [e.id for e in r] == ["1"]
    assert ("namespace", False) in remarks


def test_xml_output_with_responses_and_failed_entity(read, fixture_path):
    r1, r2 = read(fixture_path("output.xml"))
    assert len(r1.responses) == 2
    first, second = r1.responses
    assert (first.name, first.entity_type, first.confidence, first.match_codes) == (
        "Kings Road Park, ID",
        "Park",
        "High",
        "Ambiguous, Good",
    )
    assert first.address.landmark == "Kings Road Park"
    assert first.geocode_points == [
        GeocodePoint("43.56", "-116.52", "Rooftop", "Point", "Display, Route")
    ]
    assert first.query_parse_values == [QueryParseValue("Landmark", "Kings Road")]
    assert first.bounding_box == BoundingBox("43.55", "-116.53", "43.57", "-116.51")
    assert first.point == Point("43.56", "-116.52")
    assert second.geocode_points[0].latitude == "-27.41" and second.point is None
    assert r1.status_code == "Success"
    assert r1.trace_id == "c0ffee|LTSM002101|02.00.82.300|LTSMSNVM002006, LTSMSNVM001478"
    assert r2.status_code == "BadRequest" and r2.responses == []
    assert r2.fault_reason.startswith("To geocode a location")


@pytest.mark.parametrize("root", ['<GeocodeFeed xmlns="x">', '<GeocodeFeed Version="1.0">'])
def test_no_version_or_version_1_is_data_schema_1(root):
    with open_feed(io.BytesIO(feed("", root=root))) as reader:
        assert reader.schema_version is None  # known once the root element is read
        assert list(reader) == []
        assert reader.schema_version == "1.0"


def test_a_version_other_than_1_or_2_is_a_file_error():
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(feed("", root='<GeocodeFeed Version="3">'))))
    assert info.value.code == "wrong-version"
    assert "2.0" in str(info.value)


def test_wrong_root_element_is_a_file_error():
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(b"<DataflowJob/>")))
    assert info.value.code == "not-a-geocode-feed"


def test_not_well_formed_xml_reports_line_and_column():
    data = feed('<GeocodeEntity Id="1"><GeocodeRequest Query="a"Culture="b"/></GeocodeEntity>')
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(data)))
    assert info.value.code == "not-well-formed"
    assert info.value.line == 3 and info.value.issue.column is not None


def test_booleans_accept_any_case_and_reject_garbage():
    data = feed(
        '<GeocodeEntity Id="1"><GeocodeRequest Query="q" IncludeQueryParse="TRUE" '
        'StrictMatch="0" IncludeNeighborhood="False"/></GeocodeEntity>'
    )
    (entity,) = list(open_feed(io.BytesIO(data)))
    request = entity.geocode_request
    assert (request.include_query_parse, request.strict_match, request.include_neighborhood) == (
        True,
        False,
        False,
    )
    with pytest.raises(FeedError) as info:
        list(
            open_feed(
                io.BytesIO(
                    feed(
                        '<GeocodeEntity Id="1">'
                        '<GeocodeRequest IncludeQueryParse="yes"/></GeocodeEntity>'
                    )
                )
            )
        )
    assert info.value.code == "invalid-value"


def test_unknown_elements_and_attributes_are_remarks_and_skipped():
    remarks = []
    data = feed(
        '<GeocodeEntity Id="1"><DataQuality feedAlias="a"><X/></DataQuality>'
        '<GeocodeRequest query="lower" Query="Q"/></GeocodeEntity>'
    )
    with open_feed(
        io.BytesIO(data), on_issue=lambda issue, is_error: remarks.append(issue.code)
    ) as reader:
        (entity,) = list(reader)
    assert entity.geocode_request.query == "Q"
    assert remarks == ["unknown-element", "unknown-attribute"]


def test_entities_stream_one_chunk_at_a_time():
    body = "".join(
        f'<GeocodeEntity Id="{i}"><GeocodeRequest Query="q{i}"/></GeocodeEntity>\n'
        for i in range(5000)
    )
    with open_feed(io.BytesIO(feed(body))) as reader:
        iterator = iter(reader)
        first = next(iterator)
        assert first.id == "0" and first.line == 3
        # Only the first chunk has been decoded so far, not the whole file.
        assert reader.utf8_bytes < len(feed(body))
        assert sum(1 for _ in iterator) == 4999


def test_text_elements_are_trimmed_and_escaped_content_decoded():
    data = feed(
        '<GeocodeEntity Id="a&amp;b"><GeocodeRequest Query="x &lt; y"/>'
        "<TraceId>\n  t|1  \n</TraceId></GeocodeEntity>"
    )
    (entity,) = list(open_feed(io.BytesIO(data)))
    assert (
        entity.id == "a&b" and entity.geocode_request.query == "x < y" and entity.trace_id == "t|1"
    )


def test_name_says_xml_but_content_is_text_reads_as_text():
    with open_feed(io.BytesIO(b"Bing Spatial Data Services, 2.0\nId\n1\n"), "job.xml") as reader:
        assert reader.format == "csv"


def test_content_is_xml_whatever_the_name():
    with open_feed(io.BytesIO(feed("")), "job.csv") as reader:
        assert reader.format == "xml"
