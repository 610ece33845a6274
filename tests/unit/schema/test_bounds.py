"""Structure is bounded: nesting, cells per row, row length, blank rows, skipped and repeated
elements, elements per entity and per file. Each bound is a file-level error at the line where
it was crossed, reached after reading little more than the bound itself.

The small gzip files these bounds were made for (hundreds of MB, minutes of work) are in the
hostile corpus (tests/integration/hostile), measured under a memory cap.
"""

from __future__ import annotations

import io

import pytest
from geocode_dataflow.schema import FeedError, Limits, open_feed, validate_feed
from geocode_dataflow.schema.text import MAX_BLANK_ROWS, MAX_ROW_CELLS, MAX_ROW_CHARS
from geocode_dataflow.schema.xmlfeed import (
    MAX_ENTITY_ELEMENTS,
    MAX_SKIPPED_ELEMENTS,
    MAX_XML_DEPTH,
)

NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"
V = "Bing Spatial Data Services, 2.0"
ENTITY = '<GeocodeEntity Id="ok"><GeocodeRequest Query="q"/></GeocodeEntity>'


def xml_feed(body: str) -> bytes:
    """``body`` starts on line 3."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<GeocodeFeed Version="2.0" xmlns="{NS}">\n'
        f"{body}\n</GeocodeFeed>\n"
    ).encode()


def text_feed(*rows: str, header: str = "Id,GeocodeRequest/Query") -> bytes:
    """The first row is line 3."""
    return "\n".join([V, header, *rows, ""]).encode()


def first_error(data: bytes, filename: str | None = None, **kwargs) -> tuple[str, int | None]:
    report = validate_feed(io.BytesIO(data), filename, **kwargs)
    assert report.errors, report.to_text()
    return report.errors[0].code, report.errors[0].line


def nested(levels: int) -> bytes:
    # GeocodeFeed and GeocodeEntity are levels 1 and 2.
    inner = "<Nest>" * (levels - 2) + "</Nest>" * (levels - 2)
    return xml_feed(f'<GeocodeEntity Id="a">{inner}<GeocodeRequest Query="q"/></GeocodeEntity>')


# -- XML ------------------------------------------------------------------------------------


def test_nesting_up_to_the_cap_is_read_and_deeper_is_refused():
    report = validate_feed(io.BytesIO(nested(MAX_XML_DEPTH)), "deep.xml")
    assert report.valid and report.entity_count == 1, report.to_text()
    assert [w.code for w in report.warnings] == ["unknown-element"]

    deeper = nested(MAX_XML_DEPTH + 1)
    assert first_error(deeper) == ("too-deep", 3)
    report = validate_feed(io.BytesIO(deeper))
    assert f"nested more than {MAX_XML_DEPTH} deep" in report.errors[0].message
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(deeper)))
    assert info.value.code == "too-deep"


def test_deep_nesting_stops_the_read_at_once():
    # 1M levels (7 MB): expat and the path would hold every level; the read stops at 33.
    data = xml_feed('<GeocodeEntity Id="a">' + "<Nest>" * 1_000_000)
    report = validate_feed(io.BytesIO(data))
    assert [(e.code, e.line) for e in report.errors] == [("too-deep", 3)]
    assert report.utf8_bytes < 1 << 20 < len(data)


def test_unknown_elements_are_skipped_up_to_the_cap():
    within = xml_feed("<Extra/>" * (MAX_SKIPPED_ELEMENTS - 1) + "\n" + ENTITY)
    report = validate_feed(io.BytesIO(within), "x.xml")
    assert report.valid and report.entity_count == 1, report.to_text()
    (remark,) = report.warnings  # one remark for all of them, with a count
    assert (remark.code, remark.line, remark.count) == (
        "unknown-element",
        3,
        MAX_SKIPPED_ELEMENTS - 1,
    )

    # Every element of a skipped subtree counts, not only its root.
    over = xml_feed("<Extra><A/></Extra>" * (MAX_SKIPPED_ELEMENTS // 2) + "\n<Extra/>\n" + ENTITY)
    assert first_error(over) == ("too-many-skipped-elements", 4)


def test_a_flood_of_unknown_elements_stops_early():
    data = xml_feed(ENTITY + "\n" + "<x/>" * 2_000_000)
    report = validate_feed(io.BytesIO(data))
    assert [(e.code, e.line) for e in report.errors] == [("too-many-skipped-elements", 4)]
    assert "10,000 elements" in report.errors[0].message
    assert report.utf8_bytes < 1 << 20 < len(data)


@pytest.mark.parametrize(
    ("entity", "parent", "child"),
    [
        ('<GeocodeRequest Query="a"/><GeocodeRequest Query="b"/>', "GeocodeEntity",
         "GeocodeRequest"),
        ('<GeocodeRequest Query="a"><Address Locality="x"/><Address Locality="y"/>'
         "</GeocodeRequest>", "GeocodeRequest", "Address"),
        ('<ReverseGeocodeRequest><Location Latitude="1" Longitude="2"/>'
         '<Location Latitude="3" Longitude="4"/></ReverseGeocodeRequest>',
         "ReverseGeocodeRequest", "Location"),
        ('<GeocodeRequest Query="a"/><StatusCode>OK</StatusCode><StatusCode>No</StatusCode>',
         "GeocodeEntity", "StatusCode"),
        ('<GeocodeRequest Query="a"/><GeocodeResponse><Point Latitude="1" Longitude="2"/>'
         '<Point Latitude="3" Longitude="4"/></GeocodeResponse>', "GeocodeResponse", "Point"),
    ],
    ids=["request", "address", "location", "status-code", "point"],
)  # fmt: skip
def test_a_second_copy_of_a_once_only_element_is_an_error_and_skipped(entity, parent, child):
    data = xml_feed(f'<GeocodeEntity Id="1">{entity}</GeocodeEntity>')
    report = validate_feed(io.BytesIO(data))
    (error,) = report.errors
    assert (error.code, error.line) == ("duplicate-element", 3)
    assert f"<{parent}> has a second <{child}>" in error.message
    # The first copy is the one read.
    with open_feed(io.BytesIO(data), on_issue=lambda issue, is_error: None) as reader:
        (read,) = list(reader)
    if child == "GeocodeRequest":
        assert read.geocode_request.query == "a"
    if child == "Address":
        assert read.geocode_request.address.locality == "x"
    if child == "StatusCode":
        assert read.status_code == "OK"


def test_repeated_once_only_elements_make_one_error_then_hit_a_cap():
    def entity(number: int, copies: int) -> str:
        return (
            f'<GeocodeEntity Id="{number}"><GeocodeRequest Query="q">{"<Address/>" * copies}'
            "</GeocodeRequest></GeocodeEntity>"
        )

    report = validate_feed(io.BytesIO(xml_feed(entity(1, 5_000))))
    assert [(e.code, e.line, e.count) for e in report.errors] == [
        ("duplicate-element", 3, MAX_ENTITY_ELEMENTS - 2),
        ("entity-too-large", 3, None),
    ]
    spread = "\n".join(entity(number, 600) for number in range(20))
    report = validate_feed(io.BytesIO(xml_feed(spread)))
    assert [(e.code, e.line) for e in report.errors] == [
        ("duplicate-element", 3),
        ("too-many-skipped-elements", 3 + MAX_SKIPPED_ELEMENTS // 599),
    ]


def test_repeatable_elements_are_bounded_per_entity():
    def entity(points: int) -> str:
        return (
            '<GeocodeEntity Id="p"><GeocodeRequest Query="q"/><GeocodeResponse>'
            + '<GeocodePoint Latitude="1" Longitude="2"/>' * points
            + "</GeocodeResponse></GeocodeEntity>"
        )

    # The entity's own element is not counted; request and response are.
    report = validate_feed(io.BytesIO(xml_feed(entity(MAX_ENTITY_ELEMENTS - 2))))
    assert report.valid, report.to_text()
    data = xml_feed(entity(MAX_ENTITY_ELEMENTS - 1))
    assert first_error(data) == ("entity-too-large", 3)
    report = validate_feed(io.BytesIO(data))
    assert report.errors[0].entity_id == "p"
    assert "more than 1,000 elements" in report.errors[0].message


def test_elements_are_bounded_per_file():
    body = "\n".join(
        f'<GeocodeEntity Id="{i}"><GeocodeRequest Query="q"/></GeocodeEntity>' for i in range(50)
    )
    data = xml_feed(body)
    # GeocodeFeed + 2 per entity: 101 elements.
    assert validate_feed(io.BytesIO(data), limits=Limits(max_elements=101)).valid
    assert first_error(data, limits=Limits(max_elements=100)) == ("too-many-elements", 52)
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(data), max_elements=100))
    assert info.value.code == "too-many-elements"


def test_json_objects_of_text_rows_count_as_elements():
    points = '"[' + ",".join(['{""Latitude"":""1"",""Longitude"":""2""}'] * 10) + ']"'
    data = text_feed(
        *(f"{i},q,{points}" for i in range(5)),
        header="Id,GeocodeRequest/Query,GeocodeResponse/GeocodePoints",
    )
    assert validate_feed(io.BytesIO(data), limits=Limits(max_elements=50)).valid
    assert first_error(data, limits=Limits(max_elements=49)) == ("too-many-elements", 7)


# -- text -----------------------------------------------------------------------------------


def test_cells_per_row_are_bounded():
    assert validate_feed(io.BytesIO(text_feed("1,q" + "," * (MAX_ROW_CELLS - 2)))).valid
    data = text_feed("1,q", "2,q" + "," * (MAX_ROW_CELLS - 1))
    assert first_error(data) == ("too-many-cells", 4)
    report = validate_feed(io.BytesIO(data))
    assert "1,001 cells" in report.errors[0].message


def test_header_columns_are_bounded():
    data = text_feed("1", header="Id" + "," * MAX_ROW_CELLS)
    assert first_error(data) == ("too-many-cells", 2)


def test_a_row_of_millions_of_empty_cells_is_refused_after_reading_one_mib():
    data = text_feed("1,q", "2" + "," * 20_000_000)
    report = validate_feed(io.BytesIO(data))
    assert [(e.code, e.line) for e in report.errors] == [("row-too-long", 4)]
    assert f"longer than {MAX_ROW_CHARS:,} characters" in report.errors[0].message
    assert report.utf8_bytes < 2 * MAX_ROW_CHARS < len(data)


def test_a_long_line_is_refused_before_it_is_read_whole():
    # Cells each under the cell limit, the line over the row limit: not held whole.
    data = text_feed("1,q", "2" + ("," + "x" * 100_000) * 100)
    report = validate_feed(io.BytesIO(data), "f.csv")
    assert [(e.code, e.line) for e in report.errors] == [("row-too-long", 4)]
    assert report.utf8_bytes < 2 * MAX_ROW_CHARS < len(data)
    # One long cell keeps the cell limit's own, more precise message.
    report = validate_feed(io.BytesIO(text_feed("1," + "x" * 10_000_000)), "f.csv")
    assert [(e.code, e.line) for e in report.errors] == [("malformed-row", 3)]
    assert "131,072" in report.errors[0].message


def test_a_row_held_open_by_quoted_line_breaks_is_bounded_too():
    lines = ['"' + "," * 1_000 + '"'] * 2_000  # each line closes a quote and opens the next
    data = text_feed("1,q", '2,"', *lines)
    report = validate_feed(io.BytesIO(data))
    assert [(e.code, e.line) for e in report.errors] == [("row-too-long", 4)]


def test_a_row_up_to_the_limit_is_read():
    cells = ",".join(["x" * 100_000] * 10)  # ~1,000,010 characters in 10 cells
    data = text_feed(f"1,q,{cells}")
    report = validate_feed(io.BytesIO(data))
    assert [e.code for e in report.errors] == ["extra-cells"], report.to_text()


def test_blank_rows_are_skipped_up_to_the_cap():
    data = text_feed("1,q", *[""] * MAX_BLANK_ROWS, "2,q")
    report = validate_feed(io.BytesIO(data))
    assert report.valid and report.entity_count == 2, report.to_text()

    data = text_feed("1,q", *[",,"] * MAX_BLANK_ROWS, "", "2,q")
    line = 4 + MAX_BLANK_ROWS  # the first blank row is line 4
    assert first_error(data) == ("too-many-blank-rows", line)


def test_line_numbers_after_long_quoted_rows_stay_exact():
    data = text_feed('1,"a\r\nb"', "2,q\r3,q", "1,dup")
    report = validate_feed(io.BytesIO(data))
    assert [(e.code, e.line) for e in report.errors] == [("duplicate-id", 7)]
