"""results.csv, results.geojson and the match summary, built from real feeds and result sets."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import geopandas
import pytest
from geocode_dataflow.results import FeedTable, build_results, flatten
from geocode_dataflow.results.flat import neutralise
from geocode_dataflow.schema import (
    Address,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Point,
    open_feed,
    write_feed,
)

VERSION = "Bing Spatial Data Services, 2.0"


def feed(
    rows: list[str], header: str = "Id,GeocodeRequest/Query,GeocodeRequest/Address/PostalCode"
):
    return "\n".join([VERSION, header, *rows]).encode() + b"\n"


def matched(entity_id: str, lat: str, lon: str, **address) -> GeocodeEntity:
    return GeocodeEntity(
        id=entity_id,
        geocode_request=GeocodeRequest(query="q"),
        status_code="Success",
        responses=[
            GeocodeResponse(
                name="n",
                entity_type="Address",
                confidence="High",
                match_codes="Good",
                address=Address(**address),
                point=Point(lat, lon),
                geocode_points=[GeocodePoint(lat, lon, "Rooftop", "Point", "Display")],
            )
        ],
    )


def failed(entity_id: str, reason: str) -> GeocodeEntity:
    return GeocodeEntity(id=entity_id, status_code="BadRequest", fault_reason=reason)


def result_set(entities: list[GeocodeEntity], fmt: str = "csv") -> bytes:
    sink = io.BytesIO()
    write_feed(entities, sink, fmt)
    return sink.getvalue()


def entities_of(data: bytes, name: str):
    def opener():
        with open_feed(io.BytesIO(data), name) as reader:
            yield from reader

    return opener


def build(tmp_path: Path, input_data: bytes, name: str, succeeded, failed_set=None):
    table = FeedTable(lambda: io.BytesIO(input_data), name)
    sets = [(entities_of(result_set(succeeded), "s.csv"), False)]
    if failed_set:
        sets.append((entities_of(result_set(failed_set), "f.csv"), True))
    return build_results(table, sets, tmp_path)


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_every_input_row_comes_back_in_input_order_whatever_order_the_provider_used(tmp_path):
    data = feed(
        ["c,Boston MA,02108", "a,Denver CO,80202", "b,Nowhere,00000", "d,,", "e,Gone,01234"]
    )
    succeeded = [  # the provider's own order, and a no-match among them
        matched("a", "39.74", "-104.99", formatted_address="Denver, CO", postal_code="80202"),
        GeocodeEntity(id="b", status_code="Success"),
        matched("c", "42.36", "-71.06", formatted_address="Boston, MA"),
    ]
    built = build(tmp_path, data, "in.csv", succeeded, [failed("d", "No address.")])

    header, *rows = read_csv(built.csv_path)
    assert header[:3] == ["Id", "GeocodeRequest/Query", "GeocodeRequest/Address/PostalCode"]
    assert header[3:6] == ["latitude", "longitude", "match_status"]
    assert [r[0] for r in rows] == ["c", "a", "b", "d", "e"]
    assert rows[0][2] == "02108"  # leading zero intact
    assert [r[5] for r in rows] == ["matched", "matched", "no_match", "failed", "failed"]
    assert rows[1][3:5] == ["39.74", "-104.99"]
    assert rows[3][-1] == "No address."
    assert rows[4][-1] == "The provider returned no result for this row."
    assert built.summary.to_dict() == {
        "rows": 5,
        "matched": 2,
        "no_match": 1,
        "failed": 2,
        "by_confidence": {"High": 2},
        "by_entity_type": {"Address": 2},
    }


def test_the_geojson_opens_in_geopandas_with_the_right_points(tmp_path):
    data = feed(["a,Denver CO,80202", "b,Nowhere,", "c,Boston MA,02108"])
    succeeded = [
        matched("c", "42.36", "-71.06", formatted_address="Boston, MA"),
        matched("a", "39.74", "-104.99", formatted_address="Denver, CO"),
    ]
    built = build(tmp_path, data, "in.csv", succeeded, [failed("b", "nothing")])

    frame = geopandas.read_file(built.geojson_path)
    assert list(frame["Id"]) == ["a", "c"]
    assert [(p.x, p.y) for p in frame.geometry] == [(-104.99, 39.74), (-71.06, 42.36)]
    assert list(frame["GeocodeRequest/Address/PostalCode"]) == ["80202", "02108"]
    assert list(frame["match_status"]) == ["matched", "matched"]
    assert frame.crs.to_epsg() == 4326
    document = json.loads(built.geojson_path.read_text())
    assert document["type"] == "FeatureCollection" and built.features == 2


def test_an_xml_feed_contributes_the_request_columns_its_entities_use(tmp_path):
    entities = [
        GeocodeEntity(id="x1", geocode_request=GeocodeRequest(culture="en-US", query="Denver")),
        GeocodeEntity(id="x2", geocode_request=GeocodeRequest(address=Address(locality="Reno"))),
    ]
    data = result_set(entities, "xml")
    built = build(tmp_path, data, "in.xml", [matched("x2", "39.5", "-119.8")])

    header, *rows = read_csv(built.csv_path)
    assert header[:4] == [
        "Id",
        "GeocodeRequest/Culture",
        "GeocodeRequest/Query",
        "GeocodeRequest/Address/Locality",
    ]
    assert rows == [
        ["x1", "en-US", "Denver", "", *[""] * 2, "failed", *[""] * 12, rows[0][-1]],
        rows[1],
    ]
    assert rows[1][4:7] == ["39.5", "-119.8", "matched"]


def test_provider_text_that_looks_like_a_formula_is_neutralised_user_cells_are_not(tmp_path):
    data = feed(['a,"=HYPERLINK(""x"")",-1'])
    succeeded = [matched("a", "1", "2", formatted_address="=cmd|' /C calc'!A0")]
    built = build(tmp_path, data, "in.csv", succeeded)

    _, row = read_csv(built.csv_path)
    assert row[1] == '=HYPERLINK("x")' and row[2] == "-1"  # the user's own cells, unchanged
    assert row[3 + 7] == "'=cmd|' /C calc'!A0"
    assert neutralise("-71.06") == "-71.06" and neutralise("@x") == "'@x"


def test_result_columns_that_collide_with_input_columns_are_suffixed(tmp_path):
    header = "Id,ReverseGeocodeRequest/Location/Latitude,ReverseGeocodeRequest/Location/Longitude"
    data = feed(["r,47.6,-122.3"], header=header)
    built = build(tmp_path, data, "in.csv", [matched("r", "47.6", "-122.3")])
    assert read_csv(built.csv_path)[0][3:5] == ["latitude", "longitude"]

    from geocode_dataflow.results.writers import output_names

    assert output_names(["Name", "Latitude"], ("latitude", "longitude"))[0] == "latitude_result"


@pytest.mark.parametrize(
    ("lat", "lon", "status"),
    [
        ("91", "0", "no_match"),
        ("nan", "0", "no_match"),
        ("1", "181", "no_match"),
        ("1", "2", "matched"),
    ],
)
def test_coordinates_a_provider_gets_wrong_are_not_a_match(lat, lon, status):
    assert flatten(matched("a", lat, lon)).status == status


def _memory_peak(tmp_path: Path, rows: int) -> int:
    data = feed([f"r{i},{i} Main St,{i:05d}" for i in range(rows)])
    succeeded = [matched(f"r{i}", "40.1", "-100.2") for i in range(rows - 1, -1, -1)]
    results = result_set(succeeded)
    table = FeedTable(lambda: io.BytesIO(data), "in.csv")
    tracemalloc.start()
    try:
        build_results(table, [(entities_of(results, "s.csv"), False)], tmp_path / str(rows))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_rows(tmp_path):
    small, large = _memory_peak(tmp_path, 1_000), _memory_peak(tmp_path, 8_000)
    # Eight times the rows (their bytes are held by the test's BytesIO, outside the trace).
    assert large < small * 1.5 + 1_000_000, (small, large)
