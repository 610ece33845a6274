"""The key stays secret (messages, tracebacks, logs, reprs, returned URLs) and never goes over
plain http to anything but loopback, nor to an origin the caller did not configure."""

from __future__ import annotations

import io
import logging
import socket
import traceback

import pytest
from client_fakes import SECRET_KEY, Reply, envelope, job_resource, json_reply
from geocode_dataflow.client import DataflowClient, is_loopback_host, redact
from geocode_dataflow.client.security import check_endpoint
from geocode_dataflow.errors import (
    AuthenticationError,
    InsecureEndpointError,
    ServiceUnavailableError,
)

JOB_ID = "0f3c9a7e5b2d4e61a8c47d9e2b1f0a35"
STATUS = f"/REST/v1/Dataflows/Geocode/{JOB_ID}"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://spatial.virtualearth.net/REST/v1/Dataflows",
        "https://gateway.example.com:8443/REST/v1/Dataflows/",
        "http://127.0.0.1:8080/REST/v1/Dataflows",
        "http://127.9.8.7/REST/v1/Dataflows",
        "http://localhost:8080/REST/v1/Dataflows",
        "http://[::1]:8080/REST/v1/Dataflows",
        "HTTP://LOCALHOST/REST/v1/Dataflows",
    ],
)
def test_endpoint_https_anywhere_http_only_on_loopback(endpoint):
    assert check_endpoint(endpoint) == check_endpoint(endpoint).rstrip("/")
    DataflowClient(SECRET_KEY, endpoint).close()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://spatial.virtualearth.net/REST/v1/Dataflows",
        "http://10.0.0.8:8080/REST/v1/Dataflows",
        "http://localhost.evil.example/REST/v1/Dataflows",
        "http://127.0.0.1.nip.io/REST/v1/Dataflows",
        "http://[::2]/REST/v1/Dataflows",
    ],
)
def test_endpoint_plain_http_elsewhere_is_refused(endpoint):
    with pytest.raises(InsecureEndpointError, match="plain http"):
        DataflowClient(SECRET_KEY, endpoint)


@pytest.mark.parametrize(
    "endpoint", ["ftp://h/x", "spatial.virtualearth.net/REST", "https://h/x?key=1"]
)
def test_endpoint_that_is_not_an_http_base_url_is_a_value_error(endpoint):
    with pytest.raises(ValueError):
        DataflowClient(SECRET_KEY, endpoint)


def test_is_loopback_host():
    assert is_loopback_host("::ffff:127.0.0.1")
    assert is_loopback_host("localhost.")
    assert not is_loopback_host("")
    assert not is_loopback_host("example.com")


def test_missing_key_is_refused():
    with pytest.raises(ValueError, match="key is required"):
        DataflowClient("  ")


def test_repr_and_attributes_hide_the_key(make_client):
    client = make_client()

    assert SECRET_KEY not in repr(client)
    assert SECRET_KEY not in str(vars(client))


def test_redact_removes_key_parameters_and_literal_secrets():
    text = "GET /x?output=json&key=abc%2Fdef&o=1 failed; echoed s3cr3t/+ and s3cr3t%2F%2B"

    cleaned = redact(text, ["s3cr3t/+"])

    assert cleaned == "GET /x?output=json&key=***&o=1 failed; echoed *** and ***"


def _assert_secret_free(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc))
    assert SECRET_KEY not in rendered
    assert exc.__cause__ is None and exc.__context__ is None


def test_transport_errors_carry_no_key_not_even_in_their_chain():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = DataflowClient(
        SECRET_KEY, f"http://127.0.0.1:{port}/REST/v1/Dataflows", retries=1, backoff_factor=0.01
    )

    with pytest.raises(ServiceUnavailableError) as caught:
        client.get_job(JOB_ID)

    assert "could not connect to 127.0.0.1" in str(caught.value)
    _assert_secret_free(caught.value)


def test_service_errors_echoing_the_key_are_scrubbed(fake_service, make_client):
    fake_service.on(
        "GET", STATUS, json_reply(401, envelope(401, details=[f"Key '{SECRET_KEY}' is not valid"]))
    )

    with pytest.raises(AuthenticationError) as caught:
        make_client().get_job(JOB_ID)

    assert "Key '***' is not valid" in str(caught.value)
    assert caught.value.error_details == ["Key '***' is not valid"]
    _assert_secret_free(caught.value)


def test_mid_stream_failure_carries_no_key(fake_service, make_client):
    fake_service.on("GET", f"{STATUS}/output/failed", Reply(200, b"x" * 5000, action="truncate"))
    job = job_resource(JOB_ID, "Completed", base=fake_service.url, outputs=("failed",))
    from geocode_dataflow.client import parse_job_response

    (parsed,) = parse_job_response(json_reply(200, envelope(200, job)).body)

    with pytest.raises(ServiceUnavailableError) as caught:
        b"".join(make_client().iter_results(parsed, "failed"))
    _assert_secret_free(caught.value)


def test_logs_never_show_the_key(fake_service, make_client, caplog):
    """Including urllib3's own DEBUG lines and its WARNING on a retried broken connection."""
    fake_service.on(
        "GET",
        STATUS,
        Reply(action="reset"),
        json_reply(503, envelope(503)),
        json_reply(200, envelope(200, job_resource(JOB_ID))),
    )
    fake_service.on(
        "POST",
        "/REST/v1/Dataflows/Geocode",
        json_reply(503, envelope(503)),
        json_reply(201, envelope(201, job_resource(JOB_ID))),
    )
    caplog.set_level(logging.DEBUG)
    # The CLI's logging setup (run by other tests in this process) quiets urllib3.
    caplog.set_level(logging.DEBUG, logger="urllib3")

    client = make_client()
    client.get_job(JOB_ID)
    client.create_job(b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,x\n", "csv")

    urllib3_lines = [record for record in caplog.records if record.name.startswith("urllib3")]
    assert any("Retrying" in record.getMessage() for record in urllib3_lines)
    assert any("key=***" in record.getMessage() for record in urllib3_lines)
    assert SECRET_KEY not in caplog.text
    for record in caplog.records:
        assert SECRET_KEY not in record.getMessage()


def test_returned_urls_never_carry_a_key(fake_service, make_client):
    resource = job_resource(JOB_ID, "Completed", outputs=("succeeded",))
    for link in resource["links"]:
        link["url"] += f"?key={SECRET_KEY}"
    fake_service.on("GET", STATUS, json_reply(200, envelope(200, resource)))

    job = make_client().get_job(JOB_ID)

    assert SECRET_KEY not in repr(job)
    assert SECRET_KEY not in str(job.to_dict())
    assert "key=" not in job.self_url and "key=" not in job.output_urls["succeeded"]


def test_links_to_another_origin_are_followed_on_the_endpoint(fake_service, make_client):
    """A response cannot steer the key to a host the caller did not configure."""
    fake_service.on("GET", f"{STATUS}/output/succeeded", Reply(200, b"results"))
    resource = job_resource(
        JOB_ID, "Completed", base="https://attacker.example", outputs=("succeeded",)
    )
    fake_service.on("GET", STATUS, json_reply(200, envelope(200, resource)))
    client = make_client()

    job = client.get_job(JOB_ID)
    sink = io.BytesIO()
    client.download_results(job, "succeeded", sink)

    assert job.output_urls["succeeded"].startswith("https://attacker.example/")  # reported as sent
    assert sink.getvalue() == b"results"  # but fetched from the configured endpoint
    paths = [call.path.lower() for call in fake_service.requests]
    assert paths == [STATUS.lower(), f"{STATUS}/output/succeeded".lower()]
