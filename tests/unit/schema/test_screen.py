"""The validator's screen never vouches for an entity ``check_entity`` finds something in.

Files of a few entities are generated from values chosen to sit on every edge the screen
decides on (blank and whitespace-only values, formula starts, negative and malformed numbers,
confidence spellings, options and flags, both or neither request), written raw as XML and as
csv, and validated. The report must be what reading every entity and checking it says, and
every entity the screen passed must be one check_entity finds nothing in.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from xml.sax.saxutils import quoteattr

import pytest
from geocode_dataflow.schema import check_entity, open_feed, validate_feed
from geocode_dataflow.schema.columns import TEXT_COLUMNS
from geocode_dataflow.schema.screen import PlainRun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WORDS = ["", " ", "  -x", " =y", "\t", "\xa0", "Main St", " Seaview ", "a-b", "=1+2", " =x", "@home", "+44 20",
         "-5", "98052-1234", "x\ny", "Köln", "東京"]  # fmt: skip
NUMBERS = ["47.6", "-122.3", " 47.6", "47.6 ", "91", "-181", "1e999", "1_0", "nan", "٤٧", "",
           "+.5", "4.76e1"]  # fmt: skip
CONFIDENCE = [None, "", "Low", "Medium", "High", " high", "medium", "Hig"]
CULTURES = [None, "", "en-US", "-x", " de-DE"]
FLAGS = [None, "true", "maybe"]
MAX_RESULTS = [None, "5", "0", "x"]
ADDRESS_PARTS = ["AddressLine", "Locality", "PostalCode", "FormattedAddress", "Landmark"]

maybe_word = st.one_of(st.none(), st.sampled_from(WORDS))
address = st.dictionaries(st.sampled_from(ADDRESS_PARTS), st.sampled_from(WORDS), max_size=3)
forward = st.fixed_dictionaries(
    {
        "Culture": st.sampled_from(CULTURES),
        "Query": maybe_word,
        "MaxResults": st.sampled_from(MAX_RESULTS),
        "StrictMatch": st.sampled_from(FLAGS),
        "address": st.one_of(st.none(), address),
        "confidence": st.sampled_from(CONFIDENCE),
    }
)
reverse = st.fixed_dictionaries(
    {
        "Culture": st.sampled_from(CULTURES),
        "IncludeEntityTypes": st.sampled_from([None, "Address", "-x", ""]),
        "Latitude": st.sampled_from(NUMBERS),
        "Longitude": st.sampled_from(NUMBERS),
        "confidence": st.sampled_from(CONFIDENCE),
    }
)
entity = st.fixed_dictionaries(
    {
        "Id": st.sampled_from(["a", "b", " c ", "", "=d", "é", "e\u0301", None]),
        "forward": st.one_of(st.none(), forward),
        "reverse": st.one_of(st.none(), reverse),
    }
)
entities = st.lists(entity, min_size=1, max_size=8)


def _attrs(values: dict[str, str | None]) -> str:
    return "".join(
        f" {name}={quoteattr(value)}" for name, value in values.items() if value is not None
    )


def xml_file(items: list[dict]) -> bytes:
    lines = [
        '<GeocodeFeed Version="2.0" xmlns="http://schemas.microsoft.com/search/local/2010/5/geocode">'
    ]
    for item in items:
        parts = [f"<GeocodeEntity{_attrs({'Id': item['Id']})}>"]
        if item["reverse"] is not None:
            r = item["reverse"]
            parts.append(
                f"<ReverseGeocodeRequest{_attrs({k: r[k] for k in ('Culture', 'IncludeEntityTypes')})}>"
            )
            parts.append(f"<Location{_attrs({k: r[k] for k in ('Latitude', 'Longitude')})}/>")
            if r["confidence"] is not None:
                parts.append(f"<ConfidenceFilter{_attrs({'MinimumConfidence': r['confidence']})}/>")
            parts.append("</ReverseGeocodeRequest>")
        if item["forward"] is not None:
            f = item["forward"]
            parts.append(
                f"<GeocodeRequest{_attrs({k: f[k] for k in ('Culture', 'Query', 'MaxResults', 'StrictMatch')})}>"
            )
            if f["address"] is not None:
                parts.append(f"<Address{_attrs(f['address'])}/>")
            if f["confidence"] is not None:
                parts.append(f"<ConfidenceFilter{_attrs({'MinimumConfidence': f['confidence']})}/>")
            parts.append("</GeocodeRequest>")
        parts.append("</GeocodeEntity>")
        lines.append("".join(parts))
    lines.append("</GeocodeFeed>")
    return "\n".join(lines).encode()


def csv_file(items: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("Bing Spatial Data Services, 2.0\r\n")
    writer.writerow(TEXT_COLUMNS)
    for item in items:
        cells = dict.fromkeys(TEXT_COLUMNS, "")
        cells["Id"] = item["Id"] or ""
        if item["forward"] is not None:
            f = item["forward"]
            cells["GeocodeRequest/Culture"] = f["Culture"] or ""
            cells["GeocodeRequest/Query"] = f["Query"] or ""
            cells["GeocodeRequest/StrictMatch"] = f["StrictMatch"] or ""
            cells["GeocodeRequest/ConfidenceFilter/MinimumConfidence"] = f["confidence"] or ""
            for part, value in (f["address"] or {}).items():
                if part != "Landmark":  # not a request column in text
                    cells[f"GeocodeRequest/Address/{part}"] = value
        if item["reverse"] is not None:
            r = item["reverse"]
            cells["GeocodeRequest/Culture"] = cells["GeocodeRequest/Culture"] or r["Culture"] or ""
            cells["ReverseGeocodeRequest/IncludeEntityTypes"] = r["IncludeEntityTypes"] or ""
            cells["ReverseGeocodeRequest/Location/Latitude"] = r["Latitude"]
            cells["ReverseGeocodeRequest/Location/Longitude"] = r["Longitude"]
        writer.writerow(cells.values())
    return out.getvalue().encode()


def reference(data: bytes, name: str) -> tuple[Counter, Counter, int, int]:
    """What a validator that builds and checks every entity reports: warnings, errors, failing
    entities, entities (a csv row of empty cells is none)."""
    warnings, errors, failing, count = Counter(), Counter(), 0, 0
    seen = set()

    def on_issue(issue, is_error):
        (errors if is_error else warnings)[issue.code, issue.line] += 1

    with open_feed(io.BytesIO(data), name, on_issue=on_issue) as reader:
        for item in reader:
            count += 1
            findings = check_entity(item)
            failing += any(finding.fails for finding in findings)
            for finding in findings:
                warnings[finding.code, item.line] += 1
            if item.id is None:
                errors["missing-id", item.line] += 1
            else:
                key = unicodedata.normalize("NFC", item.id)
                if key in seen:
                    errors["duplicate-id", item.line] += 1
                seen.add(key)
    if count == 0:
        errors["no-entities", None] += 1
    return warnings, errors, failing, count


@pytest.mark.parametrize(("make", "name"), [(xml_file, "f.xml"), (csv_file, "f.csv")])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=entities)
def test_the_report_is_what_checking_every_entity_says(make, name, items):
    data = make(items)
    report = validate_feed(io.BytesIO(data), name)
    warnings, errors, failing, count = reference(data, name)
    assert (
        Counter((i.code, i.line) for i in report.warnings for _ in range(i.count or 1)) == warnings
    )
    assert Counter((i.code, i.line) for i in report.errors) == errors
    assert report.invalid_entity_count == failing
    assert report.entity_count == count


@pytest.mark.parametrize(("make", "name"), [(xml_file, "f.xml"), (csv_file, "f.csv")])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=entities)
def test_an_entity_the_screen_passes_has_no_findings(make, name, items):
    data = make(items)
    with open_feed(io.BytesIO(data), name, on_issue=lambda issue, is_error: None) as reader:
        passed = {line for item in reader.scan() if type(item) is PlainRun for line in item.lines}
    with open_feed(io.BytesIO(data), name, on_issue=lambda issue, is_error: None) as reader:
        for item in reader:
            if item.line in passed:
                assert check_entity(item) == [], item


def test_plain_entities_are_screened_not_built():
    rows = "".join(f"E{i},en-US,{i} Main St,Seaview,Medium\r\n" for i in range(3000))
    data = (
        "Bing Spatial Data Services, 2.0\r\n"
        "Id,GeocodeRequest/Culture,GeocodeRequest/Address/AddressLine,"
        "GeocodeRequest/Address/Locality,GeocodeRequest/ConfidenceFilter/MinimumConfidence\r\n"
        + rows
    ).encode()
    with open_feed(io.BytesIO(data), "f.csv") as reader:
        items = list(reader.scan())
    assert all(type(item) is PlainRun for item in items)
    assert sum(len(item.ids) for item in items) == 3000
    assert items[0].ids[:2] == ["E0", "E1"] and items[0].lines[:2] == [3, 4]


@pytest.mark.parametrize(
    "rows",
    ['3,"  -foo"\n', '4," "\n', '" ",a\n" ",b\n', '" "," "\n'],
    ids=["spaced-formula", "spaces-only-query", "spaces-only-ids", "spaces-only-row"],
)
def test_quoted_cells_with_leading_spaces_are_checked_in_full(rows):
    data = f"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n{rows}".encode()
    report = validate_feed(io.BytesIO(data), "f.csv")
    warnings, errors, failing, count = reference(data, "f.csv")
    assert Counter((i.code, i.line) for i in report.warnings) == warnings
    assert Counter((i.code, i.line) for i in report.errors) == errors
    assert (report.invalid_entity_count, report.entity_count) == (failing, count)


@pytest.mark.parametrize(("make", "name"), [(xml_file, "f.xml"), (csv_file, "f.csv")])
def test_plain_runs_around_entities_the_screen_turns_away_are_all_counted(make, name):
    plain = {"Id": None, "forward": {"Culture": "en-US", "Query": "Main St", "MaxResults": None,
             "StrictMatch": None, "address": None, "confidence": None}, "reverse": None}  # fmt: skip
    odd = {**plain, "forward": {**plain["forward"], "Query": "=1+2"}}
    items = [{**(odd if i % 700 == 3 else plain), "Id": f"e{i}"} for i in range(3000)]
    items.append({**plain, "Id": "e5"})  # a duplicate after several runs
    data = make(items)
    report = validate_feed(io.BytesIO(data), name)
    warnings, errors, failing, count = reference(data, name)
    assert report.entity_count == count == 3001
    assert Counter((i.code, i.line) for i in report.errors) == errors
    assert report.warning_count == sum(warnings.values())


REQUEST_COLUMNS = [c for c in TEXT_COLUMNS if not c.startswith("GeocodeResponse/") and c != "Id"]


def csv_file_with(columns: list[str], items: list[dict]) -> bytes:
    """``csv_file`` with only some columns (the Id first): cells of other columns are lost."""
    header = ["Id", *columns]
    rows = list(csv.reader(io.StringIO(csv_file(items).decode().split("\r\n", 1)[1])))
    names = rows[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("Bing Spatial Data Services, 2.0\r\n")
    writer.writerow(header)
    for row in rows[1:]:
        cells = dict(zip(names, row, strict=True))
        writer.writerow([cells[name] for name in header])
    return out.getvalue().encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    columns=st.lists(st.sampled_from(REQUEST_COLUMNS), unique=True, max_size=8),
    items=st.lists(entity, min_size=1, max_size=12),
    batch=st.sampled_from([1, 3, PlainRun.SIZE]),
)
def test_rows_under_any_header_are_screened_in_batches_as_checking_every_row_says(
    columns, items, batch
):
    """Headers of some request columns (a lone Latitude, no address, StrictMatch...), rows
    screened a few at a time or all at once: the report of checking every row."""
    data = csv_file_with(columns, items)
    size = PlainRun.SIZE
    PlainRun.SIZE = batch
    try:
        report = validate_feed(io.BytesIO(data), "f.csv")
    finally:
        PlainRun.SIZE = size
    warnings, errors, failing, count = reference(data, "f.csv")
    assert (
        Counter((i.code, i.line) for i in report.warnings for _ in range(i.count or 1)) == warnings
    )
    assert Counter((i.code, i.line) for i in report.errors) == errors
    assert (report.invalid_entity_count, report.entity_count) == (failing, count)


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("GeocodeRequest/Query,ReverseGeocodeRequest/Location/Latitude", "Main St,47.6"),
        ("GeocodeRequest/Query,ReverseGeocodeRequest/Location/Longitude", "Main St,-122.3"),
        ("GeocodeRequest/Query,ReverseGeocodeRequest/IncludeEntityTypes", "Main St,Address"),
        ("ReverseGeocodeRequest/Location/Latitude,ReverseGeocodeRequest/Location/Longitude",
         "47.6,-122.3"),
        ("GeocodeRequest/Culture,ReverseGeocodeRequest/Location/Latitude", "en-US,47.6"),
    ],
    ids=["query-and-lone-latitude", "query-and-lone-longitude", "query-and-entity-types",
         "coordinates-only", "culture-and-lone-latitude"],
)  # fmt: skip
def test_a_batch_of_rows_with_both_or_half_requests_is_checked_as_each_row_is(header, row):
    rows = "".join(f"e{i},{row}\r\n" for i in range(5))
    data = f"Bing Spatial Data Services, 2.0\r\nId,{header}\r\n{rows}".encode()
    report = validate_feed(io.BytesIO(data), "f.csv")
    warnings, errors, failing, count = reference(data, "f.csv")
    assert Counter((i.code, i.line) for i in report.warnings for _ in range(i.count or 1)) == (
        warnings
    )
    assert (report.invalid_entity_count, report.entity_count) == (failing, count)
