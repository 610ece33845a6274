"""parse_job_response / parse_envelope on fixtures written from the protocol reference."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from client_fakes import fixture_bytes
from geocode_dataflow.client import clean_url, parse_date, parse_envelope, parse_job_response
from geocode_dataflow.errors import ProtocolError, ResponseTooDeepError
from hypothesis import given, settings
from hypothesis import strategies as st

JOB = "0f3c9a7e5b2d4e61a8c47d9e2b1f0a35"
GEOCODE = "https://spatial.virtualearth.net/REST/v1/dataflows/Geocode"


def one(name: str, content_type: str | None = None):
    jobs = parse_job_response(fixture_bytes(name), content_type)
    assert len(jobs) == 1
    return jobs[0]


def test_parse_status_json_reads_every_documented_member():
    job = one("json/status_completed.json", "application/json")

    assert job.id == JOB
    assert job.status == "Completed"
    assert job.is_completed and job.is_finished and not job.is_pending
    assert job.description == "stores-march"
    assert job.created_date == datetime(2024, 3, 5, 9, 12, 3, tzinfo=UTC)
    assert job.completed_date == datetime(2024, 3, 5, 9, 14, 27, tzinfo=UTC)
    assert (job.total_entity_count, job.processed_entity_count, job.failed_entity_count) == (
        40,
        40,
        3,
    )
    assert job.error_message is None
    assert job.self_url == f"{GEOCODE}/{JOB}"  # escaped slashes undone
    assert job.output_urls == {
        "succeeded": f"{GEOCODE}/{JOB}/output/succeeded",
        "failed": f"{GEOCODE}/{JOB}/output/failed",
    }
    assert job.resource_type == "DataflowJob"
    assert job.name is None


def test_parse_status_xml_matches_its_json_twin():
    """Q3 (space inside the self URL) and Q4 (7 fractional digits with a local offset)."""
    xml_job = one("xml/status_completed.xml", "application/xml")
    json_job = one("json/status_completed.json")

    assert xml_job.self_url == json_job.self_url
    assert xml_job.output_urls == json_job.output_urls
    for name in (
        "id",
        "status",
        "description",
        "total_entity_count",
        "processed_entity_count",
        "failed_entity_count",
        "resource_type",
    ):
        assert getattr(xml_job, name) == getattr(json_job, name), name
    assert xml_job.created_date == datetime(2024, 3, 5, 9, 12, 3, 123456, tzinfo=UTC)
    assert xml_job.completed_date == datetime(2024, 3, 5, 9, 14, 27, 987654, tzinfo=UTC)
    assert xml_job.created_date.replace(microsecond=0) == json_job.created_date


def test_parse_create_json_pending_without_completed_date():
    """Q41: created without description= it comes back as "Geocode"; Q7: total already counted."""
    job = one("json/create_pending.json")

    assert job.status == "Pending" and job.is_pending and not job.is_finished
    assert job.completed_date is None
    assert job.description == "Geocode"
    assert job.total_entity_count == 7
    assert job.output_urls == {}
    assert job.self_url.endswith("/Geocode/5e8d2c4b7a1f4c3e9b0d6a2f8e4c1b7d")


def test_parse_create_xml_nil_completed_date_and_url_kept_verbatim():
    """Q9: <CompletedDate xsi:nil="true" />; Q1: the lower-case path is kept as sent."""
    job = one("xml/create_pending.xml")

    assert job.completed_date is None
    assert job.created_date == datetime(2024, 3, 6, 17, 40, 11, 555123, tzinfo=UTC)
    assert job.total_entity_count == 0
    assert job.self_url == (
        "https://spatial.virtualearth.net/REST/v1/dataflows/geocode/5e8d2c4b7a1f4c3e9b0d6a2f8e4c1b7d"
    )


@pytest.mark.parametrize(
    "name", ["json/create_no_resource.json", "json/resource_sets_missing.json"]
)
def test_parse_empty_or_missing_resource_sets_gives_no_jobs(name):
    assert parse_job_response(fixture_bytes(name)) == []


def test_parse_empty_body_gives_no_jobs():
    assert parse_job_response(b"") == []
    assert parse_job_response(b"  \r\n") == []


def test_parse_aborted_job_carries_error_message():
    job = one("json/status_aborted.json")

    assert job.is_aborted and job.is_finished
    assert job.error_message == "The data could not be read: the header line is missing."


def test_parse_completed_without_failures_has_only_succeeded_link():
    job = one("json/status_succeeded_only.json")

    assert set(job.output_urls) == {"succeeded"}


def test_parse_listjobs_json_mixed_resource_types():
    """Q18 (made valid JSON): DataServiceJob without counts, names with trailing spaces, a self
    link whose id differs from the job's, a dataSource link that is not a result set."""
    jobs = parse_job_response(fixture_bytes("json/listjobs.json"))

    assert [job.resource_type for job in jobs] == [
        "DataServiceJob",
        "DataflowJob",
        "DataServiceJob",
    ]
    assert [job.status for job in jobs] == ["Pending", "Completed", "Completed"]
    delete, geocode, access = jobs
    assert delete.name == "RemoveOldStores"
    assert delete.total_entity_count is None and delete.self_url is None
    assert geocode.id == "9999aaaabbbbccccddddeeeeffff0000"
    assert geocode.self_url.endswith("/Geocode/9999aaaabbbbccccddddeeeeffff1111")  # as sent
    assert geocode.output_urls == {
        "succeeded": "https://spatial.virtualearth.net/REST/v1/dataflows/ListJobs/"
        "9999aaaabbbbccccddddeeeeffff1111/output/succeeded"
    }
    assert access.name == "MakeStoresPublic"
    assert access.output_urls == {}


def test_parse_listjobs_xml_name_before_id_and_spaces_in_url():
    jobs = parse_job_response(fixture_bytes("xml/listjobs.xml"))

    assert [(job.name, job.id) for job in jobs] == [
        ("RemoveOldStores", "11112222333344445555666677778888"),
        ("ReloadStores", "22223333444455556666777788889999"),
        ("MakeStoresPublic", "abcdefabcdefabcdefabcdefabcdef12"),
    ]
    assert jobs[0].completed_date is None
    assert jobs[1].total_entity_count == 1234
    assert jobs[2].resource_type == "DataServiceJob"
    assert parse_envelope(fixture_bytes("xml/listjobs.xml")).estimated_total == 37


def test_parse_listjobs_unterminated_json_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="not valid JSON"):
        parse_job_response(fixture_bytes("json/listjobs_unterminated.json"))


def test_parse_datasource_create_with_https_xsi_namespace():
    """Q16: xsi:nil under https://www.w3.org/... is still read as nil."""
    job = one("xml/datasource_create.xml")

    assert job.status == "Pending"
    assert job.completed_date is None
    assert (
        job.self_url
        == "https://spatial.virtualearth.net/REST/v1/dataflows/DataSourceDownload/StoreLocations"
    )


def test_parse_datasource_status_xml_status_between_links_and_empty_count():
    """Q11 (Status between the Links), Q10 (empty count), Q9 (Completed with nil CompletedDate)."""
    job = one("xml/datasource_status.xml")

    assert job.status == "Completed"
    assert job.output_urls == {
        "succeeded": "https://spatial.virtualearth.net/REST/v1/dataflows/DataSourceDownload/"
        "StoreLocations/output/succeeded"
    }
    assert job.processed_entity_count is None
    assert job.failed_entity_count == 0
    assert job.total_entity_count == 250
    assert job.completed_date is None


def test_parse_datasource_status_json_output_key_and_misspelled_path():
    """Q12: the set name under "output" instead of "name"; the /ouput/ URL is kept as sent."""
    job = one("json/datasource_status.json")

    assert job.output_urls == {
        "succeeded": "https://spatial.virtualearth.net/REST/v1/dataflows/DataSourceDownload/"
        "StoreLocations/ouput/succeeded"
    }


def test_parse_malformed_walkthrough_xml_is_a_protocol_error():
    """Q17: <DownloadJob> closed by </DataflowJob> is not XML; refused with a clear message."""
    with pytest.raises(ProtocolError, match="not well-formed XML.*mismatched tag"):
        parse_job_response(fixture_bytes("xml/datasource_walkthrough_malformed.xml"))


def test_parse_error_envelopes():
    quota = parse_envelope(fixture_bytes("json/error_quota.json"))
    assert quota.status_code == 503
    assert quota.error_details == ("JobUsageQuota: Account already has 10 'Pending' jobs",)
    assert quota.trace_id == "d00dfeedd00dfeedd00dfeedd00dfeed"
    assert quota.jobs == ()

    unauthorized = parse_envelope(fixture_bytes("json/error_unauthorized.json"))
    assert unauthorized.status_code == 401
    assert unauthorized.authentication_result_code == "InvalidCredentials"

    bad = parse_envelope(fixture_bytes("xml/error_bad_request.xml"))
    assert bad.status_code == 400
    assert bad.status_description == "Bad Request"
    assert bad.error_details == (
        "The value of the 'input' parameter is not valid.",
        "Supported values are xml, csv, tab and pipe.",
    )


def test_parse_trusts_the_body_over_the_content_type():
    body = fixture_bytes("json/status_completed.json")

    assert parse_job_response(body, "application/xml")[0].id == JOB
    assert parse_job_response(body.decode("utf-8"), "text/html")[0].id == JOB
    assert parse_job_response(b"\xef\xbb\xbf" + body)[0].id == JOB
    assert (
        parse_job_response(fixture_bytes("xml/status_completed.xml"), "application/json")[0].id
        == JOB
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>Gateway Timeout</body></html>", "root <html>"),
        (b"Service Unavailable", "neither JSON nor XML"),
        (b"[1, 2]", "not an object"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>',
            "forbidden",
        ),
    ],
)
def test_parse_refuses_what_is_not_a_job_response(body, message):
    with pytest.raises(ProtocolError, match=message):
        parse_envelope(body)


def test_parse_json_tolerates_odd_but_readable_members():
    resource = {
        "ID": "abc",
        "Status": " Pending ",
        "totalEntityCount": "12",
        "processedEntityCount": "",
        "failedEntityCount": None,
        "links": [
            {
                "url": "https://h.example/REST/v1/dataflows/Geocode/abc/output/failed",
                "name": "failed",
            },
            {"role": "SELF", "url": " https://h.example /REST/v1/dataflows/Geocode/abc "},
            "not a link",
        ],
        "unknown": [1, {"x": 2}],
    }
    document = {
        "resourceSets": [{"resources": [resource, "junk", {"noId": True}]}],
        "errorDetails": "one",
    }
    envelope = parse_envelope(json.dumps(document).encode())

    (job,) = envelope.jobs
    assert job.id == "abc" and job.status == "Pending"
    assert (job.total_entity_count, job.processed_entity_count, job.failed_entity_count) == (
        12,
        None,
        None,
    )
    assert job.self_url == "https://h.example/REST/v1/dataflows/Geocode/abc"
    assert job.output_urls == {
        "failed": "https://h.example/REST/v1/dataflows/Geocode/abc/output/failed"
    }
    assert envelope.error_details == ("one",)


XML_CHILDREN = [
    "<Id>feed</Id>",
    '<Link role="self">https://h.example/x/feed</Link>',
    '<Link name="succeeded" role="output">https://h.example/x/feed/output/succeeded</Link>',
    '<Link role="output" name="failed">https://h.example/x/feed/output/failed</Link>',
    "<Description>any order</Description>",
    "<Status>Completed</Status>",
    "<CreatedDate>2024-01-02T03:04:05.1234567+01:00</CreatedDate>",
    "<CompletedDate>2024-01-02T03:05:05Z</CompletedDate>",
    "<TotalEntityCount>9</TotalEntityCount>",
    "<ProcessedEntityCount>9</ProcessedEntityCount>",
    "<FailedEntityCount>1</FailedEntityCount>",
    "<SomethingNew><Deep>1</Deep></SomethingNew>",
]


@settings(max_examples=40, deadline=None)
@given(st.permutations(XML_CHILDREN))
def test_parse_xml_does_not_depend_on_element_or_attribute_order(children):
    body = (
        '<Response xmlns="http://schemas.microsoft.com/search/local/ws/rest/v1"><ResourceSets><ResourceSet>'
        "<Resources><DataflowJob>" + "".join(children) + "</DataflowJob></Resources>"
        "</ResourceSet></ResourceSets></Response>"
    ).encode()

    (job,) = parse_job_response(body)
    assert job.id == "feed" and job.status == "Completed" and job.description == "any order"
    assert set(job.output_urls) == {"succeeded", "failed"}
    assert job.self_url == "https://h.example/x/feed"
    assert (job.total_entity_count, job.processed_entity_count, job.failed_entity_count) == (
        9,
        9,
        1,
    )
    assert job.created_date == datetime(2024, 1, 2, 2, 4, 5, 123456, tzinfo=UTC)
    assert job.completed_date == datetime(2024, 1, 2, 3, 5, 5, tzinfo=UTC)


def test_parse_xml_without_namespace_and_nil_on_completed_job():
    body = (
        b'<Response xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><ResourceSets><ResourceSet>'
        b"<Resources><DataflowJob><Id>n1</Id><Status>Completed</Status>"
        b'<CompletedDate i:nil="true"/><TotalEntityCount/></DataflowJob></Resources>'
        b"</ResourceSet></ResourceSets></Response>"
    )
    (job,) = parse_job_response(body)
    assert job.is_completed and job.completed_date is None and job.total_entity_count is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sat, 17 Feb 2018 22:41:49 GMT", datetime(2018, 2, 17, 22, 41, 49, tzinfo=UTC)),
        ("2010-05-10T13:22:35.0553408-07:00", datetime(2010, 5, 10, 20, 22, 35, 55340, tzinfo=UTC)),
        ("2010-05-10T13:22:35Z", datetime(2010, 5, 10, 13, 22, 35, tzinfo=UTC)),
        ("2010-05-10T13:22:35", datetime(2010, 5, 10, 13, 22, 35, tzinfo=UTC)),
        ("/Date(1263945600000)/", datetime(2010, 1, 20, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("yesterday-ish", None),
    ],
)
def test_parse_date_formats(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://spatial.virtualearth.net /REST/v1/x",
            "https://spatial.virtualearth.net/REST/v1/x",
        ),
        ("https://h/REST/v1/data/abc/ SetPublic ", "https://h/REST/v1/data/abc/SetPublic"),
        ("https://h/x/output/failed?key=SECRET&o=xml", "https://h/x/output/failed?o=xml"),
        ("https://h/x?KEY=SECRET", "https://h/x"),
        ("   ", None),
        (None, None),
    ],
)
def test_clean_url_strips_whitespace_and_keys(raw, expected):
    assert clean_url(raw) == expected


# --- answers no honest service gives ----------------------------------------------------------

KEY = "unit-test-key-3c1d9a"


def test_parse_refuses_json_nested_past_the_recursion_limit_by_name():
    with pytest.raises(ResponseTooDeepError):
        parse_envelope(b'{"a":' * 300_000 + b"1" + b"}" * 300_000)


def test_parse_reads_json_nested_as_deep_as_real_answers_are():
    nested = {"statusCode": 200, "x": [[[[[[[[[[{"y": 1}]]]]]]]]]]}
    assert parse_envelope(json.dumps(nested).encode()).status_code == 200


@pytest.mark.parametrize("inside", [False, True], ids=["bare", "inside-the-response"])
def test_parse_refuses_deep_xml_before_building_it(inside):
    deep = b"<a>" * 200_000 + b"</a>" * 200_000
    if inside:
        deep = b"<Response><StatusCode>200</StatusCode>" + deep + b"</Response>"

    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooDeepError):
            parse_envelope(deep)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # the tree of 200,000 elements would take tens of MB


def test_parse_ignores_elements_deeper_than_the_readers_look():
    padding = "<x>" * 40 + "ignored" + "</x>" * 40
    document = (
        "<Response><StatusCode>200</StatusCode><ResourceSets><ResourceSet><Resources>"
        f"<DataflowJob><Id>j1</Id><Status>Completed<b>{padding}</b></Status></DataflowJob>"
        "</Resources></ResourceSet></ResourceSets></Response>"
    )
    (job,) = parse_job_response(document.encode())
    assert (job.id, job.status) == ("j1", "Completed")


@pytest.mark.parametrize("kind", ["json", "xml"])
def test_parse_scrubs_the_key_from_every_text_the_service_echoes(kind):
    said = f"key {KEY} refused at https://h/x?key={KEY}"
    if kind == "json":
        resource = {
            "id": "j1",
            "status": "Aborted",
            "errorMessage": said,
            "description": said,
            "links": [{"role": "self", "url": f"https://h/Geocode/{KEY}"}],
        }
        body = json.dumps(
            {
                "statusCode": 200,
                "statusDescription": said,
                "traceId": said,
                "errorDetails": [said],
                "resourceSets": [{"resources": [resource]}],
            }
        ).encode()
    else:
        body = (
            f"<Response><StatusDescription>{said}</StatusDescription><TraceId>{said}</TraceId>"
            f"<ErrorDetails><string>{said}</string></ErrorDetails><ResourceSets><ResourceSet>"
            f"<Resources><DataflowJob><Id>j1</Id><Status>Aborted</Status>"
            f"<ErrorMessage>{said}</ErrorMessage><Description>{said}</Description>"
            f'<Link role="self">https://h/Geocode/{KEY}</Link></DataflowJob></Resources>'
            "</ResourceSet></ResourceSets></Response>"
        ).encode()

    envelope = parse_envelope(body, None, [KEY])

    assert KEY not in repr(envelope)
    assert envelope.jobs[0].error_message == "key *** refused at https://h/x?key=***"


def test_parse_scrubs_key_parameters_even_without_the_key():
    (job,) = parse_job_response(
        json.dumps({"resourceSets": [{"resources": [{"id": "j", "errorMessage": "u?key=abc"}]}]})
    )
    assert job.error_message == "u?key=***"
