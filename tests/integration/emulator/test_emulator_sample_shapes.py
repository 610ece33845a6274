"""Each sample input shape of the protocol reference, uploaded over HTTP, comes back in the
documented shapes: same format, text header echoed, full-width rows, failed set separate."""

import csv
import functools
import gzip
import http.server
import io
import threading
from xml.etree import ElementTree

import pytest
import requests
from emulator_http_support import FIXTURES, KEY, only_job, output_urls, wait_until_done
from offline_geocoder.gazetteer import distance_km

pytestmark = pytest.mark.integration

GEOCODE_NS = "{http://schemas.microsoft.com/search/local/2010/5/geocode}"
MICROSOFT = (47.6401, -122.1297)
DELIMITERS = {"csv": ",", "tab": "\t", "pipe": "|"}


def _run_job(emulator, body: bytes, fmt: str, **extra) -> tuple[dict, dict[str, bytes]]:
    session = requests.Session()
    headers = extra.pop(
        "headers", {"Content-Type": "application/xml" if fmt == "xml" else "text/plain"}
    )
    response = session.post(
        f"{emulator.base_url}/Geocode",
        params={"input": fmt, "key": KEY, **extra},
        data=body,
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    job = wait_until_done(session, response.headers["Location"])
    downloads = {}
    for name, url in output_urls(job).items():
        result = session.get(url, params={"key": KEY}, timeout=30)
        assert result.status_code == 200
        downloads[name] = result.content
    return job, downloads


def _rows(data: bytes, fmt: str) -> list[list[str]]:
    lines = data.decode("utf-8").splitlines()
    return list(csv.reader(lines[2:], delimiter=DELIMITERS[fmt], quotechar='"'))


def test_xml_walkthrough_feed_round_trip(emulator):
    source = (FIXTURES / "walkthrough_like.xml").read_bytes()
    job, downloads = _run_job(emulator, source, "xml", output="xml", description="Walkthrough")
    assert (job["totalEntityCount"], job["processedEntityCount"], job["failedEntityCount"]) == (
        7,
        7,
        1,
    )
    assert job["description"] == "Walkthrough"

    succeeded = ElementTree.fromstring(downloads["succeeded"])
    assert succeeded.tag == f"{GEOCODE_NS}GeocodeFeed" and succeeded.get("Version") == "2.0"
    entities = {e.get("Id"): e for e in succeeded.findall(f"{GEOCODE_NS}GeocodeEntity")}
    assert sorted(entities) == ["001", "002", "003", "005", "006", "007"]
    for entity in entities.values():
        tags = [child.tag.removeprefix(GEOCODE_NS) for child in entity]
        assert tags[0] in ("GeocodeRequest", "ReverseGeocodeRequest")
        assert tags[-2:] == ["StatusCode", "TraceId"]
        assert set(tags[1:-2]) <= {"GeocodeResponse"}
        assert entity.find(f"{GEOCODE_NS}StatusCode").text == "Success"

    first = entities["001"]
    assert first.find(f"{GEOCODE_NS}GeocodeRequest").get("IncludeNeighborhood") == "true"  # Q33
    point = first.find(f"{GEOCODE_NS}GeocodeResponse/{GEOCODE_NS}Point")
    assert distance_km(float(point.get("Latitude")), float(point.get("Longitude")), *MICROSOFT) < 10
    assert "IncludeNeighborhood" not in entities["002"].find(f"{GEOCODE_NS}GeocodeRequest").attrib
    assert len(entities["002"].findall(f"{GEOCODE_NS}GeocodeResponse")) == 3  # MaxResults
    assert entities["005"].find(f"{GEOCODE_NS}GeocodeResponse") is None  # no neighbourhood data
    redmond = entities["007"].find(f"{GEOCODE_NS}GeocodeResponse")
    assert (redmond.get("EntityType"), redmond.get("Name")) == ("PopulatedPlace", "Redmond, WA")
    location = entities["007"].find(f"{GEOCODE_NS}ReverseGeocodeRequest/{GEOCODE_NS}Location")
    assert list(location.attrib) == ["Latitude", "Longitude"]  # re-emitted in serializer order

    failed = ElementTree.fromstring(downloads["failed"])
    (bad,) = failed.findall(f"{GEOCODE_NS}GeocodeEntity")
    assert bad.get("Id") == "004"
    request = bad.find(f"{GEOCODE_NS}GeocodeRequest")
    assert request.attrib == {"Culture": "en-US"}  # Query="" dropped
    assert request.find(f"{GEOCODE_NS}Address").attrib == {}  # <Address />
    assert bad.find(f"{GEOCODE_NS}StatusCode").text == "BadRequest"
    assert bad.find(f"{GEOCODE_NS}FaultReason").text == (
        "To geocode a location, you must specify at least one address field."
    )


@pytest.mark.parametrize(
    ("name", "fmt", "succeeded_ids", "failed_ids"),
    [
        ("sample_input.csv", "csv", ["1", "2", "3"], ["4", "5"]),
        ("sample_input.tab", "tab", ["1", "2", "3"], ["4", "5"]),
        ("sample_input.pipe", "pipe", ["1", "2", "3"], ["4"]),
    ],
)
def test_text_sample_round_trip(emulator, name, fmt, succeeded_ids, failed_ids):
    source = (FIXTURES / name).read_bytes()
    job, downloads = _run_job(emulator, source, fmt)
    assert job["failedEntityCount"] == len(failed_ids)
    source_lines = source.decode("utf-8").splitlines()
    width = len(source_lines[1].split(DELIMITERS[fmt]))
    for which, expected in (("succeeded", succeeded_ids), ("failed", failed_ids)):
        data = downloads[which]
        lines = data.decode("utf-8").splitlines()
        assert lines[:2] == source_lines[:2]  # version line and header exactly as sent
        rows = _rows(data, fmt)
        assert [row[0] for row in rows] == expected
        assert all(len(row) == width for row in rows)  # full width, whatever the input row
    header = [token.strip() for token in source_lines[1].split(DELIMITERS[fmt])]
    good = {
        row[0]: dict(zip(header, row, strict=True)) for row in _rows(downloads["succeeded"], fmt)
    }
    lat = float(good["1"]["GeocodeResponse/Point/Latitude"])
    lon = float(good["1"]["GeocodeResponse/Point/Longitude"])
    assert distance_km(lat, lon, *MICROSOFT) < 10
    assert good["1"]["GeocodeResponse/EntityType"] in ("Postcode1", "PopulatedPlace")
    assert "UpHierarchy" in good["1"]["GeocodeResponse/MatchCodes"]
    assert good["2"]["GeocodeResponse/Address/Locality"] == "Bradford"
    assert good["2"]["ReverseGeocodeRequest/IncludeEntityTypes"] == "Neighborhood,PopulatedPlace"
    south = float(good["1"]["GeocodeResponse/BoundingBox/SouthLatitude"])
    north = float(good["1"]["GeocodeResponse/BoundingBox/NorthLatitude"])
    assert south < lat < north  # the bbox columns are mapped by name, whatever their order
    assert good["1"]["TraceId"].count("|") == 3
    bad = {row[0]: dict(zip(header, row, strict=True)) for row in _rows(downloads["failed"], fmt)}
    assert bad["4"]["StatusCode"] == "BadRequest"
    assert bad["4"]["FaultReason"] == (
        "To geocode a location, you must specify at least one address field."
    )


def test_partial_columns_come_back_as_uploaded(emulator):
    source = (FIXTURES / "partial_columns.csv").read_bytes()
    job, downloads = _run_job(emulator, source, "csv")
    assert job["failedEntityCount"] == 0 and "failed" not in downloads
    lines = downloads["succeeded"].decode().splitlines()
    assert lines[1] == (FIXTURES / "partial_columns.csv").read_text().splitlines()[1]
    rows = {row[0]: row for row in csv.reader(lines[2:])}
    assert all(len(row) == 4 for row in rows.values())
    assert rows["2"][2:] == ["", ""]  # no match: success, empty coordinates (§4.5)


def test_gzip_upload_as_octet_stream_and_chunked_body(emulator):
    source = (FIXTURES / "walkthrough_like.xml").read_bytes()
    gz = gzip.compress(source)
    job, _ = _run_job(emulator, gz, "xml", headers={"Content-Type": "application/octet-stream"})
    assert job["totalEntityCount"] == 7

    def chunks():
        stream = io.BytesIO((FIXTURES / "sample_input.csv").read_bytes())
        while block := stream.read(100):
            yield block

    job, _ = _run_job(emulator, chunks(), "csv")  # requests sends Transfer-Encoding: chunked
    assert job["totalEntityCount"] == 5


def test_create_response_is_the_job_as_created(emulator):
    response = requests.post(
        f"{emulator.base_url}/Geocode",
        params={"input": "csv", "key": KEY},
        data=(FIXTURES / "sample_input.csv").read_bytes(),
        timeout=30,
    )
    job = only_job(response)
    assert response.headers["Location"] == job["links"][0]["url"]
    assert job["links"][0]["url"].startswith(emulator.url + "/REST/v1/dataflows/Geocode/")
    assert (job["status"], job["totalEntityCount"], job["processedEntityCount"]) == (
        "Pending",
        5,
        0,
    )


@pytest.fixture
def fixture_server():
    """The fixtures directory on a loopback web server, to play the dataLocation blob store."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_data_location_is_fetched_instead_of_a_body(start_emulator, fixture_server):
    emulator = start_emulator(data_location_hosts=[fixture_server.split("//")[1]])
    session = requests.Session()
    params = {"input": "xml", "key": KEY}
    created = session.post(
        f"{emulator.base_url}/Geocode",
        timeout=30,
        params={**params, "dataLocation": f"{fixture_server}/walkthrough_like.xml"},
    )
    assert created.status_code == 201, created.text
    assert wait_until_done(session, created.headers["Location"])["totalEntityCount"] == 7
    missing = session.post(
        f"{emulator.base_url}/Geocode",
        timeout=30,
        params={**params, "dataLocation": f"{fixture_server}/nothing.xml"},
    )
    assert missing.status_code == 400
    assert "dataLocation" in " ".join(missing.json()["errorDetails"])
