"""validate_feed: file-level errors, entity-level warnings, counts, caps and report rendering."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from geocode_dataflow.errors import InvalidFeedError
from geocode_dataflow.schema import (
    GeocodeEntity,
    GeocodeRequest,
    Limits,
    ReverseGeocodeRequest,
    check_entity,
    fault_reason,
    validate_feed,
)
from geocode_dataflow.schema.validate import IdIndex

V = "Bing Spatial Data Services, 2.0"


def text_feed(*rows: str, header: str = "Id,GeocodeRequest/Query") -> io.BytesIO:
    return io.BytesIO("\n".join([V, header, *rows, ""]).encode())


def codes(issues) -> list[str]:
    return [issue.code for issue in issues]


def test_valid_file_counts_and_metadata(fixture_path):
    report = validate_feed(fixture_path("input_spaces.csv").read_bytes(), "input_spaces.csv")
    assert report.valid and report.errors == []
    assert (report.format, report.encoding, report.compressed) == ("csv", "utf-8", False)
    assert (report.entity_count, report.geocode_count, report.reverse_count) == (4, 3, 1)
    assert report.invalid_entity_count == 1
    assert [(w.code, w.line, w.entity_id) for w in report.warnings] == [
        ("no-address-field", 6, "A4")
    ]
    assert report.utf8_bytes == len(fixture_path("input_spaces.csv").read_bytes())


def test_duplicate_ids_report_both_lines():
    report = validate_feed(text_feed("a,x", "b,y", "a,z"))
    assert not report.valid
    (issue,) = report.errors
    assert (issue.code, issue.line, issue.entity_id) == ("duplicate-id", 5, "a")
    # Worded so that searching the report for "duplicate" finds it.
    assert "'a' is a duplicate" in issue.message and "first used on line 3" in issue.message


def test_missing_id_is_a_file_error():
    report = validate_feed(text_feed("1,x", ",y"))
    assert codes(report.errors) == ["missing-id"] and report.errors[0].line == 4


def test_entity_limit_is_configurable_and_reading_stops_at_the_first_entity_over_it():
    rows = [f"{i},q" for i in range(60)]
    assert validate_feed(text_feed(*rows)).valid
    assert validate_feed(text_feed(*rows[:50]), limits=Limits.basic()).valid
    report = validate_feed(text_feed(*rows, "0,again"), limits=Limits.basic())
    (issue,) = report.errors
    # Entity 51 is on line 53: nothing after it is read (the duplicate Id 0 is not reached).
    assert (issue.code, issue.line) == ("too-many-entities", 53)
    assert "more than 50 entities" in issue.message and "limit is 50" in issue.message
    assert report.entity_count == 50


def test_size_limit_applies_to_uncompressed_utf8():
    data = "\n".join([V, "Id,GeocodeRequest/Query", *(f"{i},{'x' * 50}" for i in range(20_000))])
    compressed = gzip.compress(data.encode())
    assert len(compressed) < 100_000 < 500_000 < len(data)
    report = validate_feed(io.BytesIO(compressed), limits=Limits(max_bytes=500_000))
    assert codes(report.errors) == ["too-large"]
    assert report.compressed is True


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty-file"),
        (b"  \n\n", "empty-file"),
        (f"{V}\n".encode(), "missing-header"),
        (f"{V}\nId,GeocodeRequest/Query\n".encode(), "no-entities"),
        (f"{V}\nId,GeocodeRequest/Query\n\n\n".encode(), "no-entities"),
        (b'<GeocodeFeed Version="2.0"></GeocodeFeed>', "no-entities"),
        (b'<GeocodeFeed Version="2.0">', "not-well-formed"),
        (b"<GeocodeFeed Version='3.0'/>", "wrong-version"),
        (f"{V}\nId,Nope\n1,2\n".encode(), "unknown-column"),
        (f"{V}\nGeocodeRequest/Query\nx\n".encode(), "missing-id-column"),
        (b"Id,GeocodeRequest/Query\n1,x\n", "wrong-version"),
        (b"1,\xe9\n", "undecodable"),
    ],
)
def test_file_level_errors(data, code):
    report = validate_feed(io.BytesIO(data))
    assert not report.valid
    assert codes(report.errors) == [code]


def test_extra_cells_are_errors_and_validation_goes_on():
    report = validate_feed(text_feed("1,Harbour Road, Seaview", "2,ok", "1,dup"))
    assert codes(report.errors) == ["extra-cells", "duplicate-id"]
    assert report.entity_count == 3


def test_undecodable_error_carries_offset_and_line():
    data = f"{V}\nId,GeocodeRequest/Query\n1,caf".encode() + b"\xe9\n"
    (issue,) = validate_feed(io.BytesIO(data)).errors
    assert issue.offset == data.index(b"\xe9") and issue.line == 3


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        (GeocodeEntity(id="1"), ["no-request"]),
        (
            GeocodeEntity(id="1", geocode_request=GeocodeRequest(culture="en-US")),
            ["no-address-field"],
        ),
        (
            GeocodeEntity(
                id="1",
                geocode_request=GeocodeRequest(query="q", max_results=21, min_confidence="Huge"),
            ),
            ["max-results-range", "unknown-min-confidence"],
        ),
        (
            GeocodeEntity(id="1", reverse_geocode_request=ReverseGeocodeRequest(latitude="47")),
            ["invalid-location"],
        ),
        (
            GeocodeEntity(
                id="1", reverse_geocode_request=ReverseGeocodeRequest(latitude="91", longitude="0")
            ),
            ["invalid-location"],
        ),
        (
            GeocodeEntity(
                id="1", reverse_geocode_request=ReverseGeocodeRequest(latitude="nan", longitude="x")
            ),
            ["invalid-location"],
        ),
        (
            GeocodeEntity(
                id="1",
                geocode_request=GeocodeRequest(query="q"),
                reverse_geocode_request=ReverseGeocodeRequest(
                    latitude="1", longitude="2", max_results=0
                ),
            ),
            ["max-results-range", "both-requests"],
        ),
        (
            GeocodeEntity(id="=HYPERLINK(1)", geocode_request=GeocodeRequest(query="-12.5")),
            ["formula-injection"],
        ),
        (
            GeocodeEntity(
                id="1",
                reverse_geocode_request=ReverseGeocodeRequest(latitude="-90", longitude="180"),
            ),
            [],
        ),
        (
            GeocodeEntity(
                id="1", geocode_request=GeocodeRequest(min_confidence="medium", query="q")
            ),
            [],
        ),
    ],
)
def test_entity_checks(entity, expected):
    assert [finding.code for finding in check_entity(entity)] == expected


def test_formatted_address_gives_the_service_fault_reason(read):
    data = f"{V}\nId,GeocodeRequest/Address/FormattedAddress\n1,1 Main St\n".encode()
    (entity,) = read(data)
    assert fault_reason(entity) == (
        "The Address.FormattedAddress property must not be specified because it is an "
        "output-only property."
    )
    report = validate_feed(io.BytesIO(data))
    assert report.valid and codes(report.warnings) == ["formatted-address", "no-address-field"]
    assert report.invalid_entity_count == 1


def test_remarks_from_the_reader_are_warnings():
    data = (
        b'<GeocodeFeed Version="2.0"><GeocodeEntity Id="1" Colour="x"><GeocodeRequest Query="q"/>'
        b"</GeocodeEntity></GeocodeFeed>"
    )
    report = validate_feed(io.BytesIO(data))
    assert report.valid
    assert codes(report.warnings) == ["namespace", "unknown-attribute"]
    assert report.invalid_entity_count == 0


def test_issue_lists_are_capped_but_counted():
    rows = ["1,q"] * 50
    report = validate_feed(text_feed(*rows), max_issues=5)
    assert len(report.errors) == 5 and report.error_count == 49
    assert report.error_codes == {"duplicate-id": 49}
    summary = report.to_dict()
    assert summary["errors_truncated"] is True
    assert "... and 44 more" in report.to_text()


def test_report_to_dict_is_json_and_to_text_is_readable(fixture_path):
    report = validate_feed(fixture_path("input_spaces.csv"), "input_spaces.csv")
    document = json.loads(json.dumps(report.to_dict()))
    assert document["valid"] is True and document["entity_count"] == 4
    assert document["warnings"][0] == {
        "code": "no-address-field",
        "message": "To geocode a location, you must specify at least one address field.",
        "line": 6,
        "entity_id": "A4",
    }
    text = report.to_text()
    assert text.splitlines()[0] == "VALID: input_spaces.csv (csv, Data Schema 2.0, utf-8)"
    assert "line 6, entity 'A4': [no-address-field]" in text


def test_validate_reads_paths_bytes_and_streams(fixture_path):
    path = fixture_path("output.xml")
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        report = validate_feed(source)
        assert report.valid and report.format == "xml" and report.entity_count == 2


def test_format_from_explicit_or_name_is_reported_even_when_unreadable():
    assert validate_feed(io.BytesIO(b""), "x.pipe").format == "pipe"
    assert validate_feed(io.BytesIO(b""), fmt="tab").format == "tab"


def test_feed_errors_are_invalid_feed_errors():
    from geocode_dataflow.schema import FeedError

    assert issubclass(FeedError, InvalidFeedError)


def test_id_index_finds_duplicates_across_growth():
    index = IdIndex()
    for i in range(10_000):
        assert index.add(f"id-{i}", i + 1) is None
    assert len(index) == 10_000
    assert index.add("id-1234", 99_999) == 1235
    assert index.add("id-0", 5) == 1


def test_a_remark_repeated_on_every_entity_is_reported_once_with_a_count():
    body = "".join(
        f'<GeocodeEntity Id="{i}" Colour="red"><GeocodeRequest Query="q"/></GeocodeEntity>\n'
        for i in range(300)
    )
    data = f'<GeocodeFeed Version="2.0">\n{body}</GeocodeFeed>'.encode()
    report = validate_feed(io.BytesIO(data), max_issues=5)
    namespace, colour = report.warnings
    assert (colour.code, colour.line, colour.entity_id, colour.count) == (
        "unknown-attribute",
        2,
        "0",
        300,
    )
    assert report.warning_count == 301 and report.warning_codes["unknown-attribute"] == 300
    assert report.to_dict()["warnings_truncated"] is False
    assert report.to_dict()["warnings"][1]["count"] == 300
    assert "line 2, entity '0', 300 times, first here: [unknown-attribute]" in report.to_text()


def test_many_undefined_attributes_of_one_tag_make_one_remark():
    names = " ".join(f'a{i}="x"' for i in range(5_000))
    data = (
        f'<GeocodeFeed Version="2.0"><GeocodeEntity Id="1" {names}>'
        '<GeocodeRequest Query="q"/></GeocodeEntity></GeocodeFeed>'
    ).encode()
    report = validate_feed(io.BytesIO(data))
    assert report.valid and codes(report.warnings) == ["namespace", "unknown-attribute"]
    message = report.warnings[1].message
    assert "has 5,000 attributes" in message and "'a0', 'a1', 'a2', 'a3', 'a4', ..." in message


def test_errors_are_not_collapsed_every_line_is_listed():
    report = validate_feed(text_feed("1,q", "1,q", "1,q"))
    assert [(e.code, e.line, e.count) for e in report.errors] == [
        ("duplicate-id", 4, None),
        ("duplicate-id", 5, None),
    ]


def test_the_error_that_stopped_the_read_is_listed_past_the_cap():
    rows = ["1,q"] * 30 + [f"{i},q" for i in range(2, 60)]
    report = validate_feed(text_feed(*rows), limits=Limits.basic(), max_issues=5)
    assert codes(report.errors) == ["duplicate-id"] * 5 + ["too-many-entities"]
    assert report.error_count == 30


def test_ids_equal_once_unicode_normalised_are_duplicates():
    # 'é' as one code point, then as 'e' + combining acute accent (NFC-equal).
    report = validate_feed(text_feed("caf\u00e9,q", "cafe\u0301,q", "x,q"))
    (issue,) = report.errors
    assert (issue.code, issue.line, issue.entity_id) == ("duplicate-id", 4, "cafe\u0301")
    assert "first used on line 3" in issue.message and "Unicode-normalised" in issue.message
    # Compatibility forms are different text (NFKC would merge them): not duplicates.
    assert validate_feed(text_feed("IX,q", "\u2168,q", "1,q", "\u2460,q", "fi,q", "\ufb01,q")).valid


def test_validate_by_path_and_by_stream_with_its_name_give_the_same_report(tmp_path):
    # A one-column pipe file: its name says pipe, so 'A|B' is two cells (one beyond the
    # header). The pipeline validates the stream with its key; the CLI validates the path.
    path = tmp_path / "one-column.pipe"
    path.write_bytes(f"{V}\nId\nA|B\n".encode())
    by_path = validate_feed(path).to_dict()
    with path.open("rb") as stream:
        by_stream = validate_feed(stream, "incoming/one-column.pipe").to_dict()
    assert by_path.pop("filename") == str(path)
    assert by_stream.pop("filename") == "incoming/one-column.pipe"
    assert by_path == by_stream
    assert by_path["format"] == "pipe" and by_path["valid"] is False
    assert [e["code"] for e in by_path["errors"]] == ["extra-cells"]


def test_cli_validate_gives_the_pipelines_answer(tmp_path, capsys):
    from geocode_dataflow import cli

    path = tmp_path / "one-column.pipe"
    path.write_bytes(f"{V}\nId\nA|B\n".encode())
    assert cli.main(["validate", str(path), "--json"]) == cli.EXIT_INVALID
    printed = json.loads(capsys.readouterr().out)
    with path.open("rb") as stream:  # as pipeline/submit.py calls it
        pipeline = validate_feed(stream, "uploads/one-column.pipe", limits=Limits()).to_dict()
    printed.pop("filename"), pipeline.pop("filename")
    assert printed == pipeline
