"""Plain tables end to end: a spreadsheet export (UTF-8 BOM, CRLF) and an .xlsx dropped into the
inbox give results.csv with the user's rows and columns intact and a GeoJSON geopandas reads,
for the Bing Dataflow provider and for the engine (Amazon Location)."""

from __future__ import annotations

import csv
import io
import json

import geopandas
import openpyxl
import pytest
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

HEADER = ["Name", "Street", "City", "State", "Zip"]
PLACES = [
    ("1 Microsoft Way", "Redmond", "WA", "98052"),
    ("1600 Pennsylvania Ave NW", "Washington", "DC", "20500"),
    ("24 Beacon St", "Boston", "MA", "02108"),
    ("400 Broad St", "Seattle", "WA", "98109"),
    ("1 Infinite Loop", "Cupertino", "CA", "95014"),
    ("350 Fifth Avenue", "New York", "NY", "10118"),
]
ROWS = [[f"Customer {n:02d}", *PLACES[n % len(PLACES)]] for n in range(30)]


def excel_csv(rows: list[list[str]] = ROWS) -> bytes:
    lines = [",".join(HEADER), *(",".join(row) for row in rows)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def workbook(rows: list[list[str]] = ROWS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)  # text cells: the zip keeps its leading zero
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def options(provider: str) -> LocalPipelineOptions:
    if provider == "bing":
        return LocalPipelineOptions(
            key="plain-key-0123456789",
            emulator_processing_seconds=0.2,
            initial_wait_seconds=0,
            min_wait_seconds=0,
            max_wait_seconds=0,
        )
    return LocalPipelineOptions(
        provider="amazon-location",
        initial_wait_seconds=0,
        min_wait_seconds=1,
        max_wait_seconds=1,
        requests_per_second=200,
        location_options={"rate_limit": 200},
    )


@pytest.fixture(scope="module", params=["bing", "amazon-location"])
def pipeline(request):
    with LocalPipeline(options(request.param)) as local:
        yield local


def check_results(pipeline: LocalPipeline, record, tmp_path) -> None:
    assert record.status == "COMPLETED", record.error
    assert record.input_format in ("table", "xlsx")
    assert record.total_entities == 30
    assert {"results_csv", "results_geojson"} <= set(record.outputs)

    text = pipeline.read(record.outputs["results_csv"]).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header[:5] == HEADER
    assert [row[:5] for row in rows] == ROWS  # in order, every cell as uploaded (02108)
    lat, lon = header.index("latitude"), header.index("longitude")
    status = header.index("match_status")
    matched = [row for row in rows if row[status] == "matched"]
    assert matched, "no row matched"
    assert all(row[lat] and row[lon] for row in matched)

    path = tmp_path / "results.geojson"
    path.write_bytes(pipeline.read(record.outputs["results_geojson"]))
    frame = geopandas.read_file(path)
    assert len(frame) == len(matched)
    assert list(frame["Name"]) == [row[0] for row in matched]
    for point, row in zip(frame.geometry, matched, strict=True):
        assert abs(point.x - float(row[lon])) < 1e-6 and abs(point.y - float(row[lat])) < 1e-6

    succeeded = pipeline.read(record.outputs["succeeded"]).decode("utf-8")
    assert succeeded.startswith("Bing Spatial Data Services, 2.0")  # sets are v2.0 csv
    assert record.outputs["succeeded"].endswith("succeeded.csv")


def test_plain_tables_excel_csv_export_completes_with_rows_in_order(pipeline, tmp_path):
    job_id = pipeline.drop(excel_csv(), "customers.csv")
    record = pipeline.wait(job_id)
    check_results(pipeline, record, tmp_path)
    assert record.input_format == "table"


def test_plain_tables_xlsx_completes_with_rows_in_order(pipeline, tmp_path):
    job_id = pipeline.drop(workbook(), "customers.xlsx")
    record = pipeline.wait(job_id)
    check_results(pipeline, record, tmp_path)
    assert record.input_format == "xlsx"


def test_plain_tables_sidecar_mapping_is_used_by_the_job(pipeline, tmp_path):
    header = "Customer No;Addr;Town;Zip\r\n"
    body = header + "".join(
        f"C{n};{street};{city};{zip_code}\r\n"
        for n, (street, city, _state, zip_code) in enumerate(PLACES)
    )
    mapping = {"columns": {"Customer No": "id", "Addr": "address_line"}, "culture": "en-US"}
    s3 = pipeline.client("s3")
    s3.put_object(
        Bucket=pipeline.bucket,
        Key="inbox/mapped.csv.mapping.json",
        Body=json.dumps(mapping).encode(),
    )
    record = pipeline.wait(pipeline.drop(body.encode("utf-8"), "mapped.csv"))
    assert record.status == "COMPLETED", record.error
    text = pipeline.read(record.outputs["results_csv"]).decode("utf-8-sig")
    header_row, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header_row[:4] == ["Customer No", "Addr", "Town", "Zip"]
    assert [row[0] for row in rows] == [f"C{n}" for n in range(len(PLACES))]
    assert rows[2][3] == "02108"
    succeeded = pipeline.read(record.outputs["succeeded"]).decode("utf-8").splitlines()
    assert succeeded[1].startswith("Id,GeocodeRequest/Culture,")  # the sidecar's culture
    assert [line.split(",", 1)[0] for line in succeeded[2:]] == [f"C{n}" for n in range(6)]
