"""Plain tables as input: detection, column mapping, encodings, .xlsx, row-number ids."""

from __future__ import annotations

import codecs
import datetime
import gzip
import io
import json

import openpyxl
import pytest
from geocode_dataflow.cli import main
from geocode_dataflow.results.tables import PlainTable, input_table
from geocode_dataflow.schema import FeedError, TableMapping, open_feed, validate_feed
from geocode_dataflow.schema.plain import cell_text, choose_mapping, sniff_delimiter
from geocode_dataflow.schema.text import MAX_ROW_CELLS

EXPORT = (
    "Name,Street,City,State,Zip\r\nAlice,24 Beacon St,Boston,MA,02108\r\nBob,,Seattle,WA,98101\r\n"
)


def excel_export(text: str = EXPORT) -> bytes:
    return codecs.BOM_UTF8 + text.encode("utf-8")


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_plain_tables_excel_export_with_bom_and_crlf_reads_as_a_table():
    with open_feed(io.BytesIO(excel_export()), "customers.csv") as reader:
        entities = list(reader)
        assert (reader.format, reader.encoding) == ("table", "utf-8-bom")
        assert reader.header == ["Name", "Street", "City", "State", "Zip"]
        assert reader.mapping == {
            "Street": "address_line",
            "City": "locality",
            "State": "admin_district",
            "Zip": "postal_code",
        }
    assert [e.id for e in entities] == ["1", "2"]  # row numbers: no id column
    first = entities[0].geocode_request.address
    assert (first.address_line, first.locality, first.postal_code) == (
        "24 Beacon St",
        "Boston",
        "02108",
    )


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-8"),
        lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
        lambda t: gzip.compress(codecs.BOM_UTF8 + t.encode("utf-8")),
    ],
    ids=["utf-8", "utf-16-bom", "gzip"],
)
def test_plain_tables_are_read_in_every_encoding(encode):
    report = validate_feed(io.BytesIO(encode(EXPORT)), "x.csv")
    assert report.valid and report.format == "table" and report.entity_count == 2


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [("a,b,c", ","), ("a\tb\tc", "\t"), ("a;b;c", ";"), ("a|b|c", "|"), ("Street", ",")],
)
def test_plain_tables_delimiter_is_sniffed_from_the_header(line, delimiter):
    assert sniff_delimiter(line) == delimiter


def test_plain_tables_semicolon_tsv_and_pipe_tables_are_read():
    for delimiter in (";", "\t", "|"):
        data = EXPORT.replace(",", delimiter).encode()
        report = validate_feed(io.BytesIO(data), "x.txt")
        assert report.valid and report.entity_count == 2, delimiter


def test_plain_tables_v2_file_is_still_a_data_schema_file():
    data = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Denver\n"
    with open_feed(io.BytesIO(data)) as reader:
        assert reader.format == "csv" and reader.table is None


def test_plain_tables_v2_header_without_version_line_is_still_a_version_error():
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(b"Id,GeocodeRequest/Query\n1,Denver\n"))
    assert info.value.code == "wrong-version"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["ID", "Address Line", "TOWN", "province", "Post_Code", "Country"],
         ["id", "address_line", "locality", "admin_district", "postal_code", "country_region"]),
        (["Full Address"], ["query"]),
        (["address"], ["query"]),  # alone: free-form
        (["address", "city", "zip"], ["address_line", "locality", "postal_code"]),
        (["Lat", "LNG"], ["latitude", "longitude"]),
        (["zip_code", "street_address", "locality"], ["postal_code", "address_line", "locality"]),
    ],
)  # fmt: skip
def test_plain_tables_recognised_names_are_case_and_space_insensitive(header, expected):
    assert list(choose_mapping(header).values()) == expected


def test_plain_tables_unmapped_table_is_rejected_listing_known_names():
    report = validate_feed(io.BytesIO(b"Foo,Bar\n1,2\n"), "x.csv")
    assert not report.valid and report.format == "table"
    (error,) = report.errors
    assert error.code == "unmapped-table"
    for name in ("street", "city", "postcode", "latitude", "full address", ".mapping.json"):
        assert name in error.message


def test_plain_tables_duplicate_field_is_an_error():
    with pytest.raises(FeedError) as info:
        choose_mapping(["City", "Town"])
    assert info.value.code == "duplicate-field"


def test_plain_tables_explicit_mapping_wins_and_reports_what_was_chosen():
    data = b"Customer No,Addr Text,Town,Notes\nC1,1 Main St,Boston,x\nC2,2 Elm St,Salem,y\n"
    mapping = TableMapping.from_dict(
        {"columns": {"Customer No": "id", "Addr Text": "address_line"}, "culture": "en-GB"}
    )
    report = validate_feed(io.BytesIO(data), "x.csv", mapping=mapping)
    assert report.valid
    assert report.mapping == {
        "Customer No": "id",
        "Addr Text": "address_line",
        "Town": "locality",
    }
    assert report.to_dict()["mapping"] == report.mapping
    assert "'Addr Text' -> address_line" in report.to_text()
    entities = list(open_feed(io.BytesIO(data), "x.csv", mapping=mapping))
    assert [e.id for e in entities] == ["C1", "C2"]
    assert entities[0].geocode_request.culture == "en-GB"


@pytest.mark.parametrize(
    "document",
    [
        {"columns": {"A": "nowhere"}},
        {"columns": ["A"]},
        {"columns": {}, "extra": 1},
        {"culture": 5},
    ],
)
def test_plain_tables_bad_mappings_are_refused(document):
    with pytest.raises(FeedError) as info:
        TableMapping.from_dict(document)
    assert info.value.code == "invalid-mapping"


def test_plain_tables_mapping_naming_a_missing_column_is_an_error():
    mapping = TableMapping.from_dict({"columns": {"Nope": "query"}})
    report = validate_feed(io.BytesIO(EXPORT.encode()), "x.csv", mapping=mapping)
    assert [e.code for e in report.errors] == ["invalid-mapping"]


def test_plain_tables_reverse_rows_from_lat_lon():
    data = b"Name,Latitude,Longitude\nHQ,47.64,-122.13\n"
    (entity,) = open_feed(io.BytesIO(data), "x.csv")
    assert entity.kind == "reverse"
    assert entity.reverse_geocode_request.latitude == "47.64"


def test_plain_tables_row_numbers_skip_blank_rows_and_match_the_results_table():
    data = b"Street,City\n1 Main St,Boston\n\n,\n2 Elm St,Salem\n"
    ids = [e.id for e in open_feed(io.BytesIO(data), "x.csv")]
    table = PlainTable(lambda: io.BytesIO(data), "x.csv")
    assert ids == ["1", "2"]
    assert table.columns == ["Street", "City"]
    assert list(table.rows()) == [("1", ["1 Main St", "Boston"]), ("2", ["2 Elm St", "Salem"])]


def test_plain_tables_results_table_keeps_cells_unchanged():
    data = excel_export()
    table = input_table("table", lambda: io.BytesIO(data), "x.csv")
    assert list(table.rows())[0] == ("1", ["Alice", "24 Beacon St", "Boston", "MA", "02108"])


def test_plain_tables_extra_cells_are_an_error():
    report = validate_feed(io.BytesIO(b"Street,City\n1 Main St,Boston,spill\n"), "x.csv")
    assert [e.code for e in report.errors] == ["extra-cells"]


def test_plain_tables_reuse_the_schema_bounds():
    wide = ",".join(["Street", *(f"c{i}" for i in range(MAX_ROW_CELLS + 1))]).encode()
    report = validate_feed(io.BytesIO(wide + b"\n1,2\n"), "x.csv")
    assert [e.code for e in report.errors] == ["too-many-cells"]
    endless = b"Street,City\n" + b"x" * (2 << 20)
    report = validate_feed(io.BytesIO(endless), "x.csv")
    assert report.errors[0].code in ("row-too-long", "malformed-row")


def test_plain_tables_xlsx_first_sheet_as_text():
    data = xlsx(
        [
            ["Id", "Street", "City", "Zip", "Since"],
            [17, "24 Beacon St", "Boston", "02108", datetime.date(2020, 1, 2)],
            [18.0, "1 Main St", "Salem", 1970, None],
        ]
    )
    with open_feed(io.BytesIO(data), "book.xlsx") as reader:
        entities = list(reader)
        assert reader.format == "xlsx"
    assert [e.id for e in entities] == ["17", "18"]  # integers without '.0'
    assert entities[0].geocode_request.address.postal_code == "02108"  # a text cell
    assert entities[1].geocode_request.address.postal_code == "1970"
    rows = list(PlainTable(lambda: io.BytesIO(data), "book.xlsx").rows())
    assert rows[0] == ("17", ["17", "24 Beacon St", "Boston", "02108", "2020-01-02"])
    report = validate_feed(data, "book.xlsx")
    assert report.valid and report.format == "xlsx" and report.entity_count == 2


def test_plain_tables_xlsx_detected_by_zip_magic_for_bytes():
    data = xlsx([["Query"], ["Denver, CO"]])
    assert validate_feed(data).format == "xlsx"


def test_plain_tables_broken_xlsx_is_a_clear_error():
    report = validate_feed(io.BytesIO(b"PK\x03\x04 not really a zip"), "book.xlsx")
    assert [e.code for e in report.errors] == ["bad-xlsx"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (7, "7"), (7.0, "7"), (2.5, "2.5"), (True, "TRUE"), ("02108", "02108")],
)
def test_plain_tables_cell_text(value, text):
    assert cell_text(value) == text


def test_plain_tables_request_only_v2_file_says_response_columns_are_added():
    data = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Denver\n"
    report = validate_feed(io.BytesIO(data))
    assert report.valid
    assert [r.code for r in report.remarks] == ["response-columns-added"]
    assert "response-columns-added" in report.to_text()
    full = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query,GeocodeResponse/Point/Latitude\n1,Denver,\n"
    assert validate_feed(io.BytesIO(full)).remarks == []


def test_plain_tables_cli_mapping_and_column_options(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_bytes(b"Customer No;Addr Text;Town\r\n7;1 Main St;Boston\r\n")
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"columns": {"Customer No": "id"}}))
    code = main(["validate", str(table), "--json", "--mapping", str(mapping),
                 "--column", "Addr Text=address_line"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["valid"]
    assert report["mapping"] == {
        "Customer No": "id",
        "Addr Text": "address_line",
        "Town": "locality",
    }


def test_plain_tables_cli_reads_the_sidecar_next_to_the_file(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_bytes(b"Ref,Where\nA,Denver CO\n")
    (tmp_path / "t.csv.mapping.json").write_text(
        json.dumps({"columns": {"Ref": "id", "Where": "query"}})
    )
    assert main(["validate", str(table), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mapping"] == {"Ref": "id", "Where": "query"}


def test_plain_tables_cli_rejects_a_bad_column_option(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_bytes(EXPORT.encode())
    assert main(["validate", str(table), "--column", "Street"]) != 0
    assert "NAME=FIELD" in capsys.readouterr().err


def test_plain_tables_xlsx_with_a_wrong_dimension_loses_no_row():
    import zipfile

    data = xlsx([["Street", "City"], *([f"{n} Main St", "Boston"] for n in range(30))])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:B31" />' in body
                body = body.replace(b'<dimension ref="A1:B31" />', b'<dimension ref="A1:B3" />')
            dst.writestr(item, body)
    report = validate_feed(out.getvalue(), "book.xlsx")
    assert report.valid and report.entity_count == 30


def test_plain_tables_xlsx_row_wider_than_the_bound_is_refused():
    book = openpyxl.Workbook()
    book.active.append(["Street", "City"])
    book.active.cell(row=2, column=MAX_ROW_CELLS + 5, value="far")
    out = io.BytesIO()
    book.save(out)
    report = validate_feed(out.getvalue(), "book.xlsx")
    assert [e.code for e in report.errors] == ["too-many-cells"]


def test_plain_tables_convert_to_v2_csv_keeps_the_mapped_columns(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_bytes(excel_export())
    out = tmp_path / "v2.csv"
    assert main(["convert", str(table), "--to", "csv", "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Bing Spatial Data Services, 2.0"
    assert lines[1] == (
        "Id,GeocodeRequest/Address/AddressLine,GeocodeRequest/Address/AdminDistrict,"
        "GeocodeRequest/Address/Locality,GeocodeRequest/Address/PostalCode"
    )
    assert lines[2] == "1,24 Beacon St,MA,Boston,02108"


def test_plain_tables_xlsx_inflating_past_the_byte_limit_is_refused():
    from geocode_dataflow.schema import Limits

    data = xlsx([["Query"], *(["Denver, CO " * 50] for _ in range(200))])
    report = validate_feed(data, "book.xlsx", limits=Limits(max_bytes=len(data) + 10))
    assert [e.code for e in report.errors] == ["too-large"]
