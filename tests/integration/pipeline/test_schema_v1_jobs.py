"""Data Schema 1.0 files through the whole local pipeline: accepted, geocoded, answered in 1.0.

A Perl-style pipe file (Id, no culture, query; no version line, no header) and a Power-BI-style
XML feed (no Version) are dropped into the inbox, for the Bing Dataflow provider (the
emulator answers 1.0 as the service does) and for the engine (Amazon Location). Their result
sets must be 1.0 (31 fields a row; a GeocodeResponse carrying the status, its point element
second) with every entity, and results.csv must have the coordinates, in input order.
"""

from __future__ import annotations

import csv
import io
from xml.etree import ElementTree

import pytest
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"
PLACES = ["Denver, CO", "Boston, MA", "Seattle, WA", "Chicago, IL", "Portland, OR"]
PIPE = "".join(f"{n}||{place}\n" for n, place in enumerate(PLACES)) + "5||\n"
XML = (
    f'<?xml version="1.0" encoding="utf-8"?><GeocodeFeed xmlns="{NS}">'
    + "".join(
        f'<GeocodeEntity Id="{n + 1}" xmlns="{NS}"><GeocodeRequest Culture="en-US" '
        f'Query="{place}" MaxResults="1"></GeocodeRequest></GeocodeEntity>'
        for n, place in enumerate(PLACES)
    )
    + "</GeocodeFeed>"
)


def options(provider: str) -> LocalPipelineOptions:
    if provider == "bing":
        return LocalPipelineOptions(
            key="v1-key-0123456789",
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


def results_rows(pipeline: LocalPipeline, record) -> list[dict[str, str]]:
    text = pipeline.read(record.outputs["results_csv"]).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_a_1_0_pipe_file_completes_with_1_0_result_sets(pipeline):
    record = pipeline.wait(pipeline.drop(PIPE.encode(), "old-client.txt"))
    assert record.status == "COMPLETED", record.error
    assert (record.input_format, record.schema_version) == ("pipe", "1.0")
    assert (record.succeeded_entities, record.failed_entities) == (5, 1)
    rows = pipeline.read(record.outputs["succeeded"]).decode().splitlines()
    assert len(rows) == 5 and not rows[0].startswith("Bing Spatial Data Services")
    for n, row in enumerate(rows):
        fields = row.split("|")
        assert len(fields) == 31 and fields[0] == str(n) and fields[27] == "Success", fields
        point = fields[20:22] if all(fields[20:22]) else fields[22:24]
        assert all(point), fields
    (failed,) = pipeline.read(record.outputs["failed"]).decode().splitlines()
    assert failed.split("|")[27] == "BadRequest"
    table = results_rows(pipeline, record)
    assert [row["Id"] for row in table] == [str(n) for n in range(6)]
    assert all(row["latitude"] for row in table[:5]) and not table[5]["latitude"]


def test_a_1_0_xml_feed_completes_with_1_0_xml_results(pipeline):
    record = pipeline.wait(pipeline.drop(XML.encode(), "powerbi.xml"))
    assert record.status == "COMPLETED", record.error
    assert (record.input_format, record.schema_version) == ("xml", "1.0")
    root = ElementTree.fromstring(pipeline.read(record.outputs["succeeded"]))
    assert "Version" not in root.attrib
    entities = root.findall(f"{{{NS}}}GeocodeEntity")
    assert [e.get("Id") for e in entities] == ["1", "2", "3", "4", "5"]
    for entity in entities:
        response = entity.find(f"{{{NS}}}GeocodeResponse")
        assert response.get("StatusCode") == "Success"
        point = list(response)[1]  # Power BI reads the point as the second child
        assert point.tag.split("}")[1] in ("RooftopLocation", "InterpolatedLocation")
        assert float(point.get("Latitude")) and float(point.get("Longitude"))
    table = results_rows(pipeline, record)
    assert [row["Id"] for row in table] == ["1", "2", "3", "4", "5"]
    assert all(row["latitude"] and row["longitude"] for row in table)
