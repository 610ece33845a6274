"""DataflowClient over real HTTP against the scripted fake service: requests, retries, errors."""

from __future__ import annotations

import gzip
import io
import socket
import zipfile

import pytest
from client_fakes import SECRET_KEY, Reply, envelope, fixture_bytes, job_resource, json_reply
from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.client.transport import BoundedRetry
from geocode_dataflow.client.upload import UploadSpool
from geocode_dataflow.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    ProtocolError,
    QuotaExceededError,
    ServiceUnavailableError,
    TransientError,
)

CREATE = "/REST/v1/Dataflows/Geocode"
JOB_ID = "5e8d2c4b7a1f4c3e9b0d6a2f8e4c1b7d"
STATUS = f"{CREATE}/{JOB_ID}"
CSV = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,One Microsoft Way Redmond\n"


def created(job_id: str = JOB_ID, **headers: str) -> Reply:
    return json_reply(201, envelope(201, job_resource(job_id)), **headers)


def quota_refusal(**headers: str) -> Reply:
    return json_reply(
        503,
        envelope(503, details=["JobUsageQuota: Account already has 10 'Pending' jobs"]),
        **headers,
    )


def big_csv(rows: int = 4000) -> bytes:
    lines = [b"Bing Spatial Data Services, 2.0", b"Id,GeocodeRequest/Query"]
    lines += [f"{i},{i} Main Street Springfield".encode() for i in range(rows)]
    return b"\n".join(lines) + b"\n"


# --- create_job ----------------------------------------------------------------------------------


def test_create_job_small_csv_sent_plain_with_documented_parameters(fake_service, make_client):
    fake_service.on("POST", CREATE, created())

    job = make_client().create_job(CSV, "CSV", description="my stores")

    assert job.id == JOB_ID and job.status == "Pending"
    (call,) = fake_service.calls("POST")
    assert call.param("input") == "csv" and call.param("output") == "json"
    assert call.param("description") == "my stores" and call.param("key") == SECRET_KEY
    assert call.headers["Content-Type"] == "text/plain"
    assert call.body == CSV


def test_create_job_small_xml_sent_as_application_xml(fake_service, make_client):
    fake_service.on("POST", CREATE, created())

    make_client().create_job(io.BytesIO(b"<GeocodeFeed Version='2.0'/>"), "xml")

    assert fake_service.calls("POST")[0].headers["Content-Type"] == "application/xml"


@pytest.mark.parametrize("shape", ["bytes", "file", "chunks"])
def test_create_job_large_feed_is_gzipped_like_the_toolkit(fake_service, make_client, shape):
    """Raw gzip body, application/octet-stream, no Content-Encoding, a Content-Length."""
    fake_service.on("POST", CREATE, created())
    data = big_csv()
    source = {
        "bytes": data,
        "file": io.BytesIO(data),
        "chunks": (data[i : i + 1000] for i in range(0, len(data), 1000)),
    }

    make_client().create_job(source[shape], "csv")

    (call,) = fake_service.calls("POST")
    assert call.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Encoding" not in call.headers and "Transfer-Encoding" not in call.headers
    assert int(call.headers["Content-Length"]) == len(call.body) < len(data)
    assert gzip.decompress(call.body) == data


def test_create_job_sends_already_compressed_data_as_is(fake_service, make_client):
    fake_service.on("POST", CREATE, created())
    compressed = gzip.compress(CSV)

    make_client().create_job(compressed, "csv")

    (call,) = fake_service.calls("POST")
    assert call.body == compressed and call.headers["Content-Type"] == "application/octet-stream"


def test_create_job_refuses_bad_arguments(make_client):
    client = make_client()
    with pytest.raises(ValueError, match="input format"):
        client.create_job(CSV, "json")
    with pytest.raises(ValueError, match="empty"):
        client.create_job(iter([b"", b""]), "csv")
    with pytest.raises(TypeError, match="not str"):
        client.create_job("text", "csv")


def test_create_job_falls_back_to_location_header(fake_service, make_client):
    location = f"https://spatial.virtualearth.net/REST/v1/dataflows/Geocode/{JOB_ID}"
    fake_service.on(
        "POST",
        CREATE,
        Reply(201, fixture_bytes("json/create_no_resource.json"), {"Location": location}),
    )

    job = make_client().create_job(CSV, "csv")

    assert job.id == JOB_ID and job.self_url == location and job.status == "Pending"


def test_create_job_without_job_or_location_says_it_may_exist(fake_service, make_client):
    fake_service.on("POST", CREATE, Reply(201, b""), Reply(201, b"<html>oops</html>"))
    client = make_client()

    with pytest.raises(ServiceUnavailableError, match="names no job.*may have been created"):
        client.create_job(CSV, "csv")
    with pytest.raises(ServiceUnavailableError, match="unreadable.*may have been created"):
        client.create_job(CSV, "csv")

    assert len(fake_service.calls("POST")) == 2  # once per call: never resent


def test_create_job_unreadable_answer_with_location_still_gives_the_job(fake_service, make_client):
    location = f"https://spatial.virtualearth.net/REST/v1/dataflows/Geocode/{JOB_ID}"
    fake_service.on("POST", CREATE, Reply(201, b"<html>oops</html>", {"Location": location}))

    assert make_client().create_job(CSV, "csv").id == JOB_ID


def test_create_job_xml_answer_is_read_too(fake_service, make_client):
    fake_service.on(
        "POST",
        CREATE,
        Reply(201, fixture_bytes("xml/create_pending.xml"), {"Content-Type": "application/xml"}),
    )

    assert make_client().create_job(CSV, "csv").id == JOB_ID


@pytest.mark.parametrize(
    "refusal", [quota_refusal(), json_reply(429, envelope(429)), json_reply(503, envelope(503))]
)
def test_create_job_retries_refusals_with_the_same_body(fake_service, make_client, refusal):
    fake_service.on("POST", CREATE, refusal, refusal, created())
    data = big_csv()

    job = make_client().create_job((data[i : i + 4096] for i in range(0, len(data), 4096)), "csv")

    assert job.id == JOB_ID
    posts = fake_service.calls("POST")
    assert len(posts) == 3
    assert len({call.body for call in posts}) == 1 and gzip.decompress(posts[0].body) == data


def test_create_job_sends_a_prepared_body_with_its_length_and_resends_it(fake_service, make_client):
    """A body spooled by the caller's own read (the submit's validation) goes as it is."""
    fake_service.on("POST", CREATE, quota_refusal(), created())
    data = big_csv()
    spool = UploadSpool()
    for start in range(0, len(data), 65_536):
        spool.write(data[start : start + 65_536])

    with spool.finish("csv") as body:
        assert make_client().create_job(body, "csv").id == JOB_ID
        assert gzip.decompress(body.reader().read()) == data  # still the caller's to close

    first, second = fake_service.calls("POST")
    assert first.body == second.body and gzip.decompress(first.body) == data
    assert int(first.headers["Content-Length"]) == len(first.body) == body.length
    assert "Transfer-Encoding" not in first.headers


def test_create_job_quota_that_persists_raises_quota_exceeded(fake_service, make_client):
    fake_service.on("POST", CREATE, quota_refusal(**{"Retry-After": "0"}))

    with pytest.raises(QuotaExceededError) as caught:
        make_client(retries=2).create_job(CSV, "csv")

    assert len(fake_service.calls("POST")) == 3
    error = caught.value
    assert isinstance(error, TransientError)
    assert error.status_code == 503
    assert error.error_details == ["JobUsageQuota: Account already has 10 'Pending' jobs"]
    assert error.trace_id == "0123456789abcdef0123456789abcdef"
    assert "JobUsageQuota: Account already has 10 'Pending' jobs" in str(error)
    assert "nothing was created" in str(error)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_create_job_is_not_resent_after_an_ambiguous_server_error(
    fake_service, make_client, status
):
    fake_service.on("POST", CREATE, json_reply(status, envelope(status)), created())

    with pytest.raises(ServiceUnavailableError, match="may have been created") as caught:
        make_client().create_job(CSV, "csv")

    assert caught.value.status_code == status
    assert len(fake_service.calls("POST")) == 1


def test_create_job_is_not_resent_after_a_connection_reset(fake_service, make_client):
    fake_service.on("POST", CREATE, Reply(action="reset"), created())

    with pytest.raises(ServiceUnavailableError, match="may have been created"):
        make_client().create_job(CSV, "csv")

    assert len(fake_service.calls("POST")) == 1


def test_create_job_is_not_resent_after_a_read_timeout(fake_service, make_client):
    fake_service.on("POST", CREATE, Reply(201, action="sleep", seconds=1.0), created())

    with pytest.raises(ServiceUnavailableError, match="did not answer.*may have been created"):
        make_client(timeout=(2, 0.3)).create_job(CSV, "csv")

    assert len(fake_service.calls("POST")) == 1


def test_create_job_connection_refused_says_nothing_was_sent():
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = DataflowClient(
        SECRET_KEY, f"http://127.0.0.1:{port}/REST/v1/Dataflows", retries=2, backoff_factor=0.01
    )

    with pytest.raises(ServiceUnavailableError, match="could not connect") as caught:
        client.create_job(CSV, "csv")

    assert "may have been created" not in str(caught.value)


def test_create_job_bad_request_is_permanent_and_not_retried(fake_service, make_client):
    fake_service.on(
        "POST",
        CREATE,
        Reply(400, fixture_bytes("xml/error_bad_request.xml"), {"Content-Type": "application/xml"}),
    )

    with pytest.raises(BadRequestError) as caught:
        make_client().create_job(CSV, "csv")

    assert len(fake_service.calls("POST")) == 1
    assert str(caught.value) == (
        "create job failed with HTTP 400: The value of the 'input' parameter is not valid.; "
        "Supported values are xml, csv, tab and pipe. (trace id beefbeefbeefbeefbeefbeefbeefbeef)"
    )
    assert caught.value.trace_id == "beefbeefbeefbeefbeefbeefbeefbeef"


# --- GET: status, retries, error mapping ---------------------------------------------------------


def test_get_job_by_id_and_by_self_url(fake_service, make_client):
    fake_service.on("GET", STATUS, json_reply(200, envelope(200, job_resource(JOB_ID, "Pending"))))
    client = make_client()

    by_id = client.get_job(JOB_ID)
    by_url = client.get_job(
        by_id.self_url
    )  # an https link to another host: followed on the endpoint
    by_job = client.get_job(by_id)

    assert by_id == by_url == by_job
    assert len(fake_service.calls("GET", STATUS)) == 3
    assert all(
        call.param("output") == "json" and call.param("key") == SECRET_KEY
        for call in fake_service.requests
    )


@pytest.mark.parametrize(
    "failures",
    [
        [json_reply(503, envelope(503)), json_reply(500, envelope(500))],
        [Reply(action="reset"), Reply(502, b"Bad Gateway")],
        [Reply(action="reset"), Reply(action="reset"), Reply(504, b"")],
        [json_reply(429, envelope(429), **{"Retry-After": "0"})],
    ],
    ids=["503-500", "reset-502", "reset-reset-504", "429"],
)
def test_get_job_retries_transient_failures(fake_service, make_client, failures):
    fake_service.on("GET", STATUS, *failures, json_reply(200, envelope(200, job_resource(JOB_ID))))

    assert make_client().get_job(JOB_ID).id == JOB_ID
    assert len(fake_service.calls("GET")) == len(failures) + 1


def test_get_job_gives_up_after_bounded_retries(fake_service, make_client):
    fake_service.on("GET", STATUS, json_reply(503, envelope(503, details=["try later"])))

    with pytest.raises(ServiceUnavailableError, match="HTTP 503: try later") as caught:
        make_client(retries=2).get_job(JOB_ID)

    assert caught.value.status_code == 503
    assert len(fake_service.calls("GET")) == 3


def test_get_job_read_timeout_is_retried(fake_service, make_client):
    fake_service.on(
        "GET",
        STATUS,
        Reply(200, action="sleep", seconds=0.6),
        json_reply(200, envelope(200, job_resource(JOB_ID))),
    )

    assert make_client(timeout=(2, 0.2)).get_job(JOB_ID).id == JOB_ID
    assert len(fake_service.calls("GET")) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, JobNotFoundError),
        (410, JobNotFoundError),
        (413, BadRequestError),
    ],
)
def test_get_job_permanent_errors_carry_the_services_words(
    fake_service, make_client, status, error
):
    fake_service.on(
        "GET",
        STATUS,
        json_reply(status, envelope(status, details=["first reason", "second reason"])),
    )

    with pytest.raises(error) as caught:
        make_client().get_job(JOB_ID)

    assert len(fake_service.calls("GET")) == 1
    assert caught.value.status_code == status
    assert caught.value.error_details == ["first reason", "second reason"]
    assert "first reason; second reason" in str(caught.value)


def test_get_job_error_without_envelope_uses_http_reason(fake_service, make_client):
    fake_service.on(
        "GET", STATUS, Reply(401, b"<html>denied</html>", {"Content-Type": "text/html"})
    )

    with pytest.raises(AuthenticationError, match="HTTP 401: Unauthorized"):
        make_client().get_job(JOB_ID)


def test_get_job_success_status_with_error_body_is_an_error(fake_service, make_client):
    """A body's statusCode of 400 with no resource beats the HTTP 200 (the lkellar pitfall)."""
    fake_service.on("GET", STATUS, json_reply(200, envelope(400, details=["bad id"])))

    with pytest.raises(BadRequestError, match="bad id"):
        make_client().get_job(JOB_ID)


def test_get_job_without_resource_is_a_protocol_error(fake_service, make_client):
    fake_service.on("GET", STATUS, Reply(200, fixture_bytes("json/resource_sets_missing.json")))

    with pytest.raises(ProtocolError, match="carries no job"):
        make_client().get_job(JOB_ID)


def test_redirects_are_not_followed(fake_service, make_client):
    fake_service.on(
        "GET",
        STATUS,
        Reply(302, b"", {"Location": f"https://elsewhere.example/x?key={SECRET_KEY}"}),
    )

    with pytest.raises(ProtocolError, match="unexpected redirect") as caught:
        make_client().get_job(JOB_ID)

    assert SECRET_KEY not in str(caught.value)
    assert len(fake_service.requests) == 1


def test_retry_after_is_capped():
    retry = BoundedRetry(total=3, backoff_max=4)

    class Answer:
        headers = {"Retry-After": "3600"}

    assert retry.get_retry_after(Answer()) == 4


def test_list_jobs(fake_service, make_client):
    fake_service.on(
        "GET", "/REST/v1/Dataflows/ListJobs", Reply(200, fixture_bytes("json/listjobs.json"))
    )

    jobs = make_client().list_jobs()

    assert [job.description for job in jobs] == ["DataSourceDelete", "Geocode", "DataSourceAccess"]
    assert fake_service.requests[0].param("output") == "json"


# --- downloads -----------------------------------------------------------------------------------


def completed_job(fake_service, outputs=("succeeded", "failed")) -> DataflowJob:
    return DataflowJob(
        id=JOB_ID,
        status="Completed",
        self_url=f"https://spatial.virtualearth.net/REST/v1/dataflows/Geocode/{JOB_ID}",
        output_urls={name: f"{fake_service.url}{STATUS}/output/{name}" for name in outputs},
    )


def test_iter_results_streams_the_set(fake_service, make_client):
    fake_service.on(
        "GET", f"{STATUS}/output/succeeded", Reply(200, CSV * 100, {"Content-Type": "text/plain"})
    )

    chunks = list(
        make_client().iter_results(completed_job(fake_service), "succeeded", chunk_size=1000)
    )

    assert b"".join(chunks) == CSV * 100 and len(chunks) > 1
    call = fake_service.requests[0]
    assert call.param("key") == SECRET_KEY and "output" not in call.query


@pytest.mark.parametrize("packing", ["content-encoding", "raw-gzip", "zip"])
def test_iter_results_unpacks_compressed_bodies(fake_service, make_client, packing):
    payload = CSV * 50
    if packing == "content-encoding":
        reply = Reply(200, gzip.compress(payload), {"Content-Encoding": "gzip"})
    elif packing == "raw-gzip":
        reply = Reply(
            200,
            gzip.compress(payload[:100]) + gzip.compress(payload[100:]),
            {"Content-Type": "application/octet-stream"},
        )
    else:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("results.csv", payload)
        reply = Reply(200, archive.getvalue(), {"Content-Type": "application/zip"})
    fake_service.on("GET", f"{STATUS}/output/failed", reply)

    assert b"".join(make_client().iter_results(completed_job(fake_service), "failed")) == payload


def test_iter_results_for_a_missing_set_raises_before_any_request(fake_service, make_client):
    job = completed_job(fake_service, outputs=("succeeded",))

    with pytest.raises(JobNotFoundError, match="no 'failed' result set.*sets present: succeeded"):
        make_client().iter_results(job, "failed")
    pending = DataflowJob(id="p", status="Pending")
    with pytest.raises(JobNotFoundError, match="is Pending"):
        make_client().iter_results(pending, "succeeded")

    assert fake_service.requests == []


def test_iter_results_expired_set_is_job_not_found(fake_service, make_client):
    fake_service.on(
        "GET", f"{STATUS}/output/succeeded", json_reply(404, envelope(404, details=["expired"]))
    )

    with pytest.raises(JobNotFoundError, match="expired"):
        make_client().iter_results(completed_job(fake_service), "succeeded")


def test_iter_results_follows_misspelled_ouput_link_then_corrects_it(fake_service, make_client):
    """Q12: the /ouput/ link is tried as sent; when it is not found, /output/ is used."""
    fake_service.on("GET", f"{STATUS}/output/succeeded", Reply(200, CSV))
    job = DataflowJob(
        id=JOB_ID,
        status="Completed",
        output_urls={"succeeded": f"{fake_service.url}{STATUS}/ouput/succeeded"},
    )

    assert b"".join(make_client().iter_results(job, "succeeded")) == CSV
    assert [call.path for call in fake_service.requests] == [
        f"{STATUS}/ouput/succeeded",
        f"{STATUS}/output/succeeded",
    ]


def test_iter_results_mid_stream_break_is_transient(fake_service, make_client):
    fake_service.on("GET", f"{STATUS}/output/succeeded", Reply(200, CSV * 10, action="truncate"))

    with pytest.raises(ServiceUnavailableError, match="broke while reading"):
        b"".join(make_client().iter_results(completed_job(fake_service), "succeeded"))


def test_download_results_starts_over_after_a_break(fake_service, make_client):
    fake_service.on(
        "GET",
        f"{STATUS}/output/succeeded",
        Reply(200, CSV * 10, action="truncate"),
        Reply(200, CSV * 10),
    )
    sink = io.BytesIO(b"header kept|")
    sink.seek(0, io.SEEK_END)

    written = make_client().download_results(completed_job(fake_service), "succeeded", sink)

    assert written == len(CSV * 10)
    assert sink.getvalue() == b"header kept|" + CSV * 10


# --- data source download ------------------------------------------------------------------------


def test_datasource_download_create_status_and_data(fake_service, make_client):
    create_path = "/REST/v1/Dataflows/DataSourceDownload/a92dcfac/StoreLocations"
    status_path = "/REST/v1/dataflows/DataSourceDownload/StoreLocations"
    fake_service.on(
        "GET",
        create_path,
        Reply(
            202,
            fixture_bytes("xml/datasource_create.xml"),
            {"Location": f"https://spatial.virtualearth.net{status_path}"},
        ),
    )
    fake_service.on("GET", status_path, Reply(200, fixture_bytes("json/datasource_status.json")))
    fake_service.on(
        "GET",
        f"{status_path}/output/succeeded",
        Reply(200, b"<MainRoot><Store><EntityID>1</EntityID></Store></MainRoot>"),
    )
    client = make_client()

    job = client.create_datasource_download("a92dcfac", "StoreLocations", job_id="v2")
    status = client.get_datasource_download(job)
    sink = io.BytesIO()
    size = client.download_datasource(status, sink)

    assert job.status == "Pending" and job.self_url.endswith(status_path)
    assert fake_service.requests[0].param("jobId") == "v2"
    assert status.is_completed
    assert sink.getvalue().startswith(b"<MainRoot>") and size == len(sink.getvalue())
    # /ouput/ (Q12) was tried first, then /output/.
    assert [call.path for call in fake_service.requests][-2:] == [
        f"{status_path}/ouput/succeeded",
        f"{status_path}/output/succeeded",
    ]


def test_datasource_download_status_url_from_location_when_body_has_none(fake_service, make_client):
    path = "/REST/v1/Dataflows/DataSourceDownload/acc/Name"
    fake_service.on(
        "GET", path, Reply(202, b"", {"Location": "/REST/v1/dataflows/DataSourceDownload/Name"})
    )

    job = make_client().create_datasource_download("acc", "Name")

    assert job.self_url == f"{fake_service.url}/REST/v1/dataflows/DataSourceDownload/Name"


# --- waiting -------------------------------------------------------------------------------------


def test_wait_for_job_polls_until_finished_tolerating_blips(fake_service, make_client):
    done = job_resource(JOB_ID, "Completed", outputs=("succeeded",), processedEntityCount=3)
    fake_service.on(
        "GET",
        STATUS,
        json_reply(200, envelope(200, job_resource(JOB_ID, "Pending"))),
        json_reply(503, envelope(503)),
        json_reply(200, envelope(200, job_resource(JOB_ID, "Pending", processedEntityCount=2))),
        json_reply(200, envelope(200, done)),
    )
    client = make_client(retries=0)
    waits: list[float] = []
    client._sleep = waits.append
    seen: list[tuple[str, int | None]] = []

    job = client.wait_for_job(
        JOB_ID,
        poll_seconds=2,
        max_poll_seconds=4,
        on_poll=lambda j, elapsed: seen.append((j.status, j.processed_entity_count)),
    )

    assert job.is_completed and set(job.output_urls) == {"succeeded"}
    assert seen == [("Pending", 0), ("Pending", 2), ("Completed", 3)]
    assert waits == [2, 3, 4]


def test_wait_for_job_times_out(fake_service, make_client):
    fake_service.on("GET", STATUS, json_reply(200, envelope(200, job_resource(JOB_ID, "Pending"))))
    client = make_client()
    now = [0.0]
    client._clock = lambda: now[0]
    client._sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)

    with pytest.raises(TimeoutError, match="still pending after 10 s"):
        client.wait_for_job(JOB_ID, poll_seconds=3, timeout=10)

    assert now[0] == 10


def test_wait_for_job_gives_up_after_repeated_failures(fake_service, make_client):
    fake_service.on("GET", STATUS, json_reply(503, envelope(503)))
    client = make_client(retries=0)
    client._sleep = lambda seconds: None

    with pytest.raises(ServiceUnavailableError):
        client.wait_for_job(JOB_ID, poll_seconds=1)

    assert len(fake_service.calls("GET")) == 4
