"""Envelope rendering: the member order, dates and shapes real clients depend on."""

import json
import re
from datetime import UTC, datetime
from xml.etree import ElementTree

from dataflow_emulator.envelopes import (
    JobResource,
    Link,
    json_date,
    render_json,
    render_xml,
    trace_id,
    xml_date,
)

WHEN = datetime(2018, 2, 17, 22, 41, 49, 123456, tzinfo=UTC)
JOB = JobResource(
    id="3bf1b729dddd498e9df45515cdb36130",
    status="Completed",
    links=(
        Link("self", "https://h/REST/v1/dataflows/Geocode/x"),
        Link("output", "https://h/REST/v1/dataflows/Geocode/x/output/succeeded", "succeeded"),
    ),
    description="Geocode",
    created=WHEN,
    completed=WHEN,
    total=2,
    processed=2,
    failed=0,
)


def test_json_dates_are_rfc1123_gmt():
    assert json_date(WHEN) == "Sat, 17 Feb 2018 22:41:49 GMT"


def test_xml_dates_have_seven_fractional_digits_and_an_offset():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d", xml_date(WHEN))
    parsed = datetime.fromisoformat(xml_date(WHEN)[:26] + xml_date(WHEN)[27:])
    assert parsed == WHEN


def test_trace_ids_look_like_the_services():
    assert re.fullmatch(r"[0-9a-f]{32}\|NODE1\|[\d.]+\|", trace_id("NODE1"))


def test_json_members_are_in_datacontract_order_and_nulls_omitted():
    document = json.loads(render_json(200, trace="t", resources=[JOB]))
    resource = document["resourceSets"][0]["resources"][0]
    assert list(resource) == [
        "__type",
        "id",
        "links",
        "completedDate",
        "createdDate",
        "description",
        "failedEntityCount",
        "processedEntityCount",
        "status",
        "totalEntityCount",
    ]
    assert resource["links"][0] == {"role": "self", "url": "https://h/REST/v1/dataflows/Geocode/x"}
    assert list(resource["links"][1]) == ["name", "role", "url"]
    assert document["resourceSets"][0]["estimatedTotal"] == 1
    pending = JobResource(id="x", status="Pending", created=WHEN)
    assert (
        "completedDate"
        not in json.loads(render_json(200, trace="t", resources=[pending]))["resourceSets"][0][
            "resources"
        ][0]
    )


def test_json_error_envelope():
    document = json.loads(render_json(503, trace="t", error_details=["JobUsageQuota: x"]))
    assert list(document) == [
        "authenticationResultCode",
        "brandLogoUri",
        "copyright",
        "errorDetails",
        "resourceSets",
        "statusCode",
        "statusDescription",
        "traceId",
    ]
    assert (document["statusCode"], document["statusDescription"]) == (503, "Service Unavailable")
    assert document["resourceSets"] == []


def test_xml_resource_shape():
    root = ElementTree.fromstring(render_xml(200, trace="t", resources=[JOB]))
    ns = "{http://schemas.microsoft.com/search/local/ws/rest/v1}"
    job = root.find(f"{ns}ResourceSets/{ns}ResourceSet/{ns}Resources/{ns}DataflowJob")
    assert [c.tag.removeprefix(ns) for c in job] == [
        "Id",
        "Link",
        "Link",
        "Description",
        "Status",
        "CreatedDate",
        "CompletedDate",
        "TotalEntityCount",
        "ProcessedEntityCount",
        "FailedEntityCount",
    ]
    raw = render_xml(200, trace="t", resources=[JOB]).decode()
    assert '<Link role="output" name="succeeded">' in raw


def test_xml_error_envelope_has_error_details_before_trace_id():
    root = ElementTree.fromstring(
        render_xml(401, trace="t", error_details=["a", "b"], auth="NoCredentials")
    )
    ns = "{http://schemas.microsoft.com/search/local/ws/rest/v1}"
    tags = [c.tag.removeprefix(ns) for c in root]
    assert tags == [
        "Copyright",
        "BrandLogoUri",
        "StatusCode",
        "StatusDescription",
        "AuthenticationResultCode",
        "ErrorDetails",
        "TraceId",
        "ResourceSets",
    ]
    assert [s.text for s in root.find(f"{ns}ErrorDetails")] == ["a", "b"]
