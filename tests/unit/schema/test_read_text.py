"""Reading the text formats: the shapes of the official samples, reproduced in own fixtures."""

from __future__ import annotations

import io

import pytest
from geocode_dataflow.schema import (
    TEXT_COLUMNS,
    Address,
    BoundingBox,
    FeedError,
    GeocodePoint,
    Point,
    QueryParseValue,
    open_feed,
)

V = "Bing Spatial Data Services, 2.0"


def test_text_columns_are_the_41_documented_names():
    assert len(TEXT_COLUMNS) == 41 == len(set(TEXT_COLUMNS))
    assert TEXT_COLUMNS[0] == "Id" and TEXT_COLUMNS[-1] == "TraceId"
    assert "GeocodeRequest/StrictMatch" in TEXT_COLUMNS


def test_open_feed_csv_keeps_header_tokens_as_sent_and_canonical_columns(fixture_path):
    with open_feed(fixture_path("input_spaces.csv")) as reader:
        assert reader.format == "csv"
        assert reader.version_line == V
        assert reader.header[:3] == ["Id", " GeocodeRequest/Culture", " GeocodeRequest/Query"]
        assert reader.header[12] == "ReverseGeocodeRequest/IncludeEntityTypes"  # no space (Q21)
        assert reader.columns[:3] == ["Id", "GeocodeRequest/Culture", "GeocodeRequest/Query"]
        assert len(reader.columns) == 40


def test_read_csv_short_rows_quoted_list_and_spilled_commas(read, fixture_path):
    a1, a2, a3, a4 = read(fixture_path("input_spaces.csv"))
    assert a1.line == 3 and a1.kind == "geocode"
    assert a1.geocode_request.culture == "en-US"
    assert a1.geocode_request.address == Address(
        address_line="10 Harbour Road", admin_district="WA", locality="Seaview", postal_code="98001"
    )
    assert a2.kind == "reverse" and a2.geocode_request is None
    reverse = a2.reverse_geocode_request
    assert (reverse.latitude, reverse.longitude) == ("51.5072", "-0.1276")
    assert reverse.include_entity_types == "Neighborhood,PopulatedPlace"
    assert (reverse.culture, reverse.min_confidence) == ("en-gb", "Medium")
    # Unquoted commas spill into the next columns, values trimmed (Q25).
    assert a3.geocode_request.query == "10 Harbour Road"
    assert a3.geocode_request.address == Address(address_line="Seaview", admin_district="Wa")
    # Culture alone still makes a (failing) forward request, as in the official error sample.
    assert a4.geocode_request is not None and a4.geocode_request.culture == "fr-FR"
    assert a4.geocode_request.query is None and a4.geocode_request.address is None


def test_read_csv_output_maps_bounding_box_by_name_in_sample_page_order(read, fixture_path):
    ok, failed = read(fixture_path("output_sample_order.csv"))
    response = ok.responses[0]
    assert response.bounding_box == BoundingBox(
        south_latitude="47.4",
        west_longitude="-122.3",
        north_latitude="47.6",
        east_longitude="-122.2",
    )
    assert response.point == Point("47.5", "-122.25")
    assert response.name == "10 Harbour Rd, Seaview, WA 98001"
    assert response.address.formatted_address == "10 Harbour Rd, Seaview, WA 98001"
    assert response.address.country_region == "United States"
    assert (response.confidence, response.entity_type, response.match_codes) == (
        "High",
        "Address",
        "Good",
    )
    # JSON cells are read by key, whatever the key order inside each object (Q30).
    assert response.geocode_points == [
        GeocodePoint("47.5", "-122.25", "Rooftop", "Point", "Display"),
        GeocodePoint("47.51", "-122.26", "Interpolation", "Point", "Route"),
    ]
    assert response.query_parse_values == [
        QueryParseValue("AddressLine", "10 Harbour Road"),
        QueryParseValue("Locality", "Seaview"),
    ]
    assert ok.status_code == "Success" and ok.fault_reason is None
    assert ok.trace_id == "0a1b2c3d4e5f|BN000|7.7.0.0|BN2SCH0001, i-0abc.us-east-1c"
    assert failed.responses == []
    assert failed.status_code == "BadRequest"
    assert (
        failed.fault_reason == "To geocode a location, you must specify at least one address field."
    )
    assert failed.trace_id == "ffee0011"  # unquoted in failed rows (Q26)
    assert failed.geocode_request.culture == "en-gb"


def test_read_tab_with_padding_cells_blank_lines_and_leading_space_header(read, fixture_path):
    with open_feed(fixture_path("input_padded.tab")) as reader:
        assert reader.format == "tab"
        assert reader.header[1] == " GeocodeRequest/Culture"
        entities = list(reader)
    assert [e.id for e in entities] == ["T1", "T2", "T3", "T4"]
    assert [e.line for e in entities] == [3, 4, 5, 7]  # the blank line 6 is skipped
    t1, t2, t3, _ = entities
    assert t1.geocode_request.address.postal_code == "98001"
    assert t2.reverse_geocode_request.include_entity_types == "Neighborhood,PopulatedPlace"
    # A comma is not a delimiter in a tab file.
    assert t3.geocode_request.query == "10 Harbour Road, Seaview, Wa"


def test_read_pipe_raw_json_quoted_trace_id_with_pipes_and_multiline_cell(read, fixture_path):
    p1, p2 = read(fixture_path("output.pipe"))
    assert (
        p1.trace_id == "9f8e7d6c|CO30|7.7.0.0|CO3SCH01, i-01.us-west-2a"
    )  # trailing space trimmed (Q27)
    assert p1.responses[0].geocode_points == [
        GeocodePoint("47.5", "-122.25", "Parcel", "Point", "Display, Route")
    ]
    assert p1.responses[0].query_parse_values == [QueryParseValue("AddressLine", "Harbour Road")]
    assert p1.responses[0].bounding_box == BoundingBox("47.4", "-122.3", "47.6", "-122.2")
    assert p2.geocode_request.query == "Line one\nline two"
    assert (p1.line, p2.line) == (3, 4)
    assert p2.trace_id == "aa|bb"


def test_line_numbers_count_quoted_line_breaks():
    data = f'{V}\nId,GeocodeRequest/Query\n1,"a\nb\nc"\n2,x\n'.encode()
    with open_feed(io.BytesIO(data)) as reader:
        assert [(e.id, e.line) for e in reader] == [("1", 3), ("2", 6)]


def test_header_columns_in_any_order_and_partial():
    data = f"{V}\nGeocodeRequest/Query , Id\nSeaview,9\n".encode()
    with open_feed(io.BytesIO(data)) as reader:
        (entity,) = list(reader)
    assert entity.id == "9" and entity.geocode_request.query == "Seaview"


def test_version_line_variants_are_accepted():
    for version in (
        "bing spatial data services,2.0",
        "Bing Spatial Data Services| 2.0",
        "Bing Spatial Data Services\t2.0\t\t",
        '"Bing Spatial Data Services", "2.0",,,',
        "Bing Spatial Data Services, 2",
    ):
        data = f"{version}\nId\n1\n".encode()
        with open_feed(io.BytesIO(data)) as reader:
            assert [e.id for e in reader] == ["1"]
            assert reader.version_line == version


@pytest.mark.parametrize(
    ("first_line", "fragment"),
    [
        ("Bing Spatial Data Services, 3.0", "version '3.0'"),
        ("Id,GeocodeRequest/Query", "add the version line"),
    ],
)
def test_wrong_or_missing_version_line_is_a_file_error(first_line, fragment):
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(f"{first_line}\nId\n1\n".encode()))
    assert info.value.code == "wrong-version"
    assert fragment in str(info.value)


def test_unknown_column_is_named_with_a_hint():
    data = f"{V}\nId,GeocodeRequest/query,Colour\n".encode()
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(data))
    assert info.value.code == "unknown-column"
    message = str(info.value)
    assert "'GeocodeRequest/query'" in message and "'GeocodeRequest/Query'" in message
    assert "'Colour'" in message


def test_missing_id_column_and_duplicate_column_are_file_errors():
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(f"{V}\nGeocodeRequest/Query\nx\n".encode()))
    assert info.value.code == "missing-id-column"
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(f"{V}\nId,Id\n".encode()))
    assert info.value.code == "duplicate-column"


def test_extra_non_empty_cells_raise_but_empty_padding_does_not(read):
    assert [e.id for e in read(f"{V}\nId,GeocodeRequest/Query\n1,a,,, \n".encode())] == ["1"]
    with pytest.raises(FeedError) as info:
        read(f"{V}\nId,GeocodeRequest/Query\n1,Harbour Road, Seaview\n".encode())
    assert info.value.code == "extra-cells" and info.value.line == 3


def test_swapped_key_geocode_points_and_unquoted_numbers_are_read_by_key(read):
    points = '[{""Latitude"":""1.5"",""Longitude"":""2.5""},{""longitude"":3.25,""latitude"":-4}]'
    data = f'{V}\nId,GeocodeResponse/GeocodePoints\n1,"{points}"\n'.encode()
    (entity,) = read(data)
    assert entity.responses[0].geocode_points == [
        GeocodePoint("1.5", "2.5", None, None, None),
        GeocodePoint("-4", "3.25", None, None, None),
    ]


def test_invalid_json_cell_is_a_file_error(read):
    data = f'{V}\nId,GeocodeResponse/GeocodePoints\n1,"[{{nope"\n'.encode()
    with pytest.raises(FeedError) as info:
        read(data)
    assert info.value.code == "invalid-json" and info.value.line == 3


def test_delimiter_comes_from_the_header_and_name_only_breaks_ties(read):
    data = f"{V}\nId|GeocodeRequest/Query\n1|a, b\n".encode()
    with open_feed(io.BytesIO(data), "job.csv") as reader:
        assert reader.format == "pipe"
        assert [e.geocode_request.query for e in reader] == ["a, b"]
    with open_feed(io.BytesIO(f"{V}\nId\n1\n".encode()), "job.pipe") as reader:
        assert reader.format == "pipe"
    with open_feed(io.BytesIO(f"{V}\nId\n1\n".encode()), "job.tsv.gz") as reader:
        assert reader.format == "tab"


def test_explicit_format_overrides_content():
    data = f"{V}\nId,GeocodeRequest/Query\n".encode()
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(data), fmt="pipe")
    assert info.value.code == "unknown-column"


def test_strict_match_column_is_a_boolean(read):
    (entity,) = read(f"{V}\nId,GeocodeRequest/Query,GeocodeRequest/StrictMatch\n1,x,1\n".encode())
    assert entity.geocode_request.strict_match is True
    with pytest.raises(FeedError) as info:
        read(f"{V}\nId,GeocodeRequest/Query,GeocodeRequest/StrictMatch\n1,x,yes\n".encode())
    assert info.value.code == "invalid-value"


def test_rows_of_only_empty_cells_are_skipped(read):
    assert [e.id for e in read(f"{V}\nId,GeocodeRequest/Query\n,,\n1,a\n ,\n".encode())] == ["1"]


def test_schema_page_bounding_box_order_with_values(read):
    header = (
        "Id, GeocodeResponse/BoundingBox/SouthLatitude, GeocodeResponse/BoundingBox/WestLongitude,"
        "GeocodeResponse/BoundingBox/NorthLatitude,GeocodeResponse/BoundingBox/EastLongitude"
    )
    (entity,) = read(f"{V}\n{header}\n1,47.4,-122.3,47.6,-122.2\n".encode())
    assert entity.responses[0].bounding_box == BoundingBox("47.4", "-122.3", "47.6", "-122.2")


def test_extra_blank_quoted_cell_beyond_the_header_is_tolerated(read):
    # Q35: an output row with one more cell than the header, holding " ".
    (entity,) = read(f'{V}\nId,StatusCode\n1,Success," "\n'.encode())
    assert entity.status_code == "Success"


def test_unquoted_line_break_inside_json_is_reported_not_silently_misread(read):
    # Q28: the published pipe sample breaks a GeocodePoints cell over two lines, unquoted.
    data = (
        f"{V}\nId|GeocodeResponse/GeocodePoints|StatusCode\n"
        '2|[{"Longitude":"1","Latitude":"2",\n'
        '"UsageTypes":"Route","Type":"Point"}]|Success\n'
    ).encode()
    with pytest.raises(FeedError) as info:
        read(data)
    assert info.value.code == "invalid-json" and info.value.line == 3


def test_partial_bounding_box_is_a_remark_and_dropped():
    data = f"{V}\nId,GeocodeResponse/BoundingBox/SouthLatitude\n1,47\n".encode()
    remarks = []
    with open_feed(io.BytesIO(data), on_issue=lambda i, e: remarks.append((i.code, e))) as r:
        (entity,) = list(r)
    assert remarks == [("partial-bounding-box", False)]
    assert entity.responses[0].bounding_box is None


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ('1,"Harbour Road\n2,Seaview\n', "never closed"),
        ('1,"Harbour" Road\n', "follows a closing quote"),
    ],
)
def test_broken_quoting_is_a_file_error_not_a_silent_merge(read, row, fragment):
    with pytest.raises(FeedError) as info:
        read(f"{V}\nId,GeocodeRequest/Query\n{row}".encode())
    assert info.value.code == "malformed-row" and info.value.line == 3
    assert fragment in str(info.value)
