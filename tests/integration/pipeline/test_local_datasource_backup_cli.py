"""`geocode-dataflow local datasource-backup ACCESS_ID NAME --out DIR`: the issue's own check."""

from __future__ import annotations

import csv
import json

import pytest
from dataflow_emulator.datasources import every_type_data_source
from geocode_dataflow.cli import main

pytestmark = pytest.mark.integration


def test_local_datasource_backup_leaves_the_xml_csv_geojson_schema_and_a_completed_record(
    tmp_path, capsys
):
    source = every_type_data_source()
    out = tmp_path / "backup"
    code = main(
        ["local", "datasource-backup", source.access_id, source.name, "--out", str(out),
         "--processing-seconds", "0.2"]
    )  # fmt: skip

    assert code == 0, capsys.readouterr()
    names = {p.name for p in out.iterdir()}
    assert names == {
        "datasource.xml", "entities.csv", "entities.geojson", "schema.json", "job.json"
    }  # fmt: skip
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["kind"]) == ("COMPLETED", "datasource-backup")
    assert (out / "datasource.xml").read_bytes() == b"".join(source.export_chunks())
    with open(out / "entities.csv", encoding="utf-8-sig", newline="") as table:
        assert len(list(csv.reader(table))) == len(source.rows) + 1
    assert json.loads((out / "schema.json").read_text())["entity_type"] == "Landmark"
    geopandas = pytest.importorskip("geopandas")
    assert len(geopandas.read_file(out / "entities.geojson")) == len(source.rows)
    printed = capsys.readouterr().out
    assert "COMPLETED" in printed and "entities:      4" in printed


def test_local_datasource_backup_lists_the_emulator_data_sources(capsys):
    assert main(["local", "datasource-backup", "--list"]) == 0
    listed = capsys.readouterr().out
    source = every_type_data_source()
    assert f"{source.access_id}  {source.name}" in listed
    assert "200,000" in listed


def test_local_datasource_backup_of_an_unknown_data_source_says_how_to_find_one(tmp_path, capsys):
    code = main(
        ["local", "datasource-backup", "0" * 32, "NoSuchSource", "--out", str(tmp_path / "o"),
         "--processing-seconds", "0.2"]
    )  # fmt: skip
    assert code == 2
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "--list" in captured.err
