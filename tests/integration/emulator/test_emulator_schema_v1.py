"""Data Schema 1.0 uploads, as the clients that still send them do, get 1.0 results.

Shaped after the two real 1.0 clients the notes describe: a Perl module posting pipe lines of
Id, empty culture and query (no version line, no header), and Microsoft's Power BI visual
posting an XML feed without Version and reading the point of ``GeocodeResponse[0]`` by
position (its second child).
"""

from __future__ import annotations

import requests
from emulator_http_support import KEY, output_urls, wait_until_done

NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"


def create(emulator, body: bytes, input_format: str, content_type: str) -> dict:
    response = requests.post(
        f"{emulator.base_url}/Geocode",
        params={"key": KEY, "input": input_format, "output": "json"},
        data=body,
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    job = response.json()["resourceSets"][0]["resources"][0]
    with requests.Session() as session:
        status_url = next(link["url"] for link in job["links"] if link["role"] == "self")
        return wait_until_done(session, status_url)


def test_a_1_0_pipe_upload_gets_31_field_rows_back(emulator):
    body = b"0||Seattle, WA\n1||Portland, OR\n2||\n"
    job = create(emulator, body, "pipe", "text/plain")
    assert job["status"] == "Completed", job
    assert (job["processedEntityCount"], job["failedEntityCount"]) == (3, 1)
    urls = output_urls(job)
    rows = requests.get(urls["succeeded"], params={"key": KEY}, timeout=10).text.splitlines()
    assert len(rows) == 2 and not rows[0].startswith("Bing Spatial Data Services")
    fields = rows[0].split("|")
    assert len(fields) == 31
    assert (fields[0], fields[2], fields[27]) == ("0", "Seattle, WA", "Success")
    # A locality centroid is an interpolated point; either 1.0 location carries it.
    point = fields[20:22] if all(fields[20:22]) else fields[22:24]
    assert all(point) and abs(float(point[0]) - 47.6) < 0.5, fields
    failed = requests.get(urls["failed"], params={"key": KEY}, timeout=10).text.splitlines()
    (row,) = failed
    fields = row.split("|")
    assert (fields[0], fields[27]) == ("2", "BadRequest") and fields[28]


def test_a_1_0_xml_upload_gets_1_0_xml_with_the_point_second(emulator):
    entities = "".join(
        f'<GeocodeEntity Id="{i}" xmlns="{NS}"><GeocodeRequest Culture="en-US" '
        f'Query="{place}" MaxResults="1"></GeocodeRequest></GeocodeEntity>'
        for i, place in enumerate(["Boston, MA", "Denver, CO"], start=1)
    )
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><GeocodeFeed xmlns="{NS}">{entities}</GeocodeFeed>'
    )
    job = create(emulator, body.encode(), "xml", "application/xml")
    assert job["status"] == "Completed", job
    from xml.etree import ElementTree

    text = requests.get(output_urls(job)["succeeded"], params={"key": KEY}, timeout=10).content
    root = ElementTree.fromstring(text)
    assert "Version" not in root.attrib
    for entity in root.findall(f"{{{NS}}}GeocodeEntity"):
        response = entity.findall(f"{{{NS}}}GeocodeResponse")[0]
        assert response.get("StatusCode") == "Success" and response.get("DisplayName")
        point = list(response)[1]
        assert point.tag.split("}")[1] in ("RooftopLocation", "InterpolatedLocation")
        assert float(point.get("Latitude")) and float(point.get("Longitude"))
        assert (
            entity.find(f"{{{NS}}}TraceId") is None and entity.find(f"{{{NS}}}StatusCode") is None
        )
