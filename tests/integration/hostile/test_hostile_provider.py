"""No provider is trusted: the Dataflow client, the Azure Maps adapter and the Amazon Location
adapter (boto3 geo-places) against a hostile provider on loopback, over real HTTP.

Huge answers, gzip bombs, endless and trickling streams, parser bombs and answers echoing the
key each end in a named error of the right kind, within the call's deadline, in bounded
memory, and the key appears in no job, error or repr. Deadlines are 2 s here; "finishes" is
checked with a generous bound, never timed precisely.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.errors import (
    DeadlineExceededError,
    PermanentError,
    ResponseTooDeepError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    TransientError,
)
from geocode_dataflow.providers.amazon_location import AmazonLocationGeocoder
from geocode_dataflow.providers.azure_maps import AzureMapsGeocoder
from geocode_dataflow.schema import GeocodeEntity, GeocodeRequest
from hostile_provider import (
    MIB,
    SECRET_KEY,
    Answer,
    HostileProvider,
    Seen,
    body,
    bomb_bytes,
    deep_json,
    deep_xml,
    endless,
    gzip_bomb,
    huge,
    json_answer,
    trickle,
    trickled_headers,
)

pytestmark = pytest.mark.integration

DEADLINE = 2.0
FINISHES_WITHIN = 15.0  # seconds: the deadline and a wide margin for a busy machine
MEMORY_BOUND = 32 * MIB  # traced peak while refusing answers of hundreds of MB
RESULT_URL = "/REST/v1/Dataflows/Geocode/j1/output/succeeded"


@pytest.fixture(scope="module")
def provider():
    bomb_bytes(256 * MIB)  # built once, before any memory is traced
    bomb_bytes(64 * MIB)
    with HostileProvider() as server:
        yield server


@pytest.fixture
def answer(provider) -> Callable[[Callable[[Seen], Answer]], None]:
    provider.seen.clear()

    def set_answer(make: Callable[[Seen], Answer]) -> None:
        provider.answer = make

    return set_answer


def bing(provider: HostileProvider, **options: Any) -> DataflowClient:
    settings = {
        "retries": 0,
        "timeout": (2, 5),
        "deadline": DEADLINE,
        "download_deadline": DEADLINE,
    }
    settings.update(options)
    return DataflowClient(SECRET_KEY, f"{provider.url}/REST/v1/Dataflows", **settings)


def azure(provider: HostileProvider) -> AzureMapsGeocoder:
    return AzureMapsGeocoder(SECRET_KEY, endpoint=provider.url, timeout=(2, 5), deadline=DEADLINE)


def amazon(provider: HostileProvider) -> AmazonLocationGeocoder:
    client = boto3.client(
        "geo-places",
        region_name="us-east-1",
        endpoint_url=provider.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )
    return AmazonLocationGeocoder(client, timeout=(2, 5), deadline=DEADLINE)


def entity() -> GeocodeEntity:
    return GeocodeEntity(id="1", geocode_request=GeocodeRequest(query="Boise, ID", culture="en-US"))


def completed_job(provider: HostileProvider) -> DataflowJob:
    return DataflowJob(
        id="j1", status="Completed", output_urls={"succeeded": provider.url + RESULT_URL}
    )


def outcome(call: Callable[[], Any], within: float = FINISHES_WITHIN) -> BaseException | Any:
    """What ``call`` raised or returned; fails when it is still running after ``within`` s
    (a call with no deadline hangs there: the thread is left to the server's shutdown)."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    if thread.is_alive():
        pytest.fail(f"still running after {within:g} s: nothing bounds the call")
    return result[0]


def traced_peak(call: Callable[[], Any]) -> tuple[BaseException | Any, int]:
    tracemalloc.start()
    try:
        got = outcome(call)
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_raised(got: Any, cls: type[BaseException]) -> BaseException:
    assert isinstance(got, cls), f"expected {cls.__name__}, got {got!r}"
    return got


def assert_secret_free(*values: Any) -> None:
    for value in values:
        for text in (str(value), repr(value)):
            assert SECRET_KEY not in text, text


def job_answer(**resource: Any) -> Answer:
    job = {"id": "j1", "status": "Pending", **resource}
    return json_answer(200, {"statusCode": 200, "resourceSets": [{"resources": [job]}]})


# --- the Dataflow client: answers read whole ------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_refuses_a_huge_status_answer_in_bounded_memory(provider, answer, chunked):
    answer(lambda seen: huge((400 if not chunked else 64) * MIB, chunked=chunked))

    got, peak = traced_peak(lambda: bing(provider).get_job("j1"))

    error = assert_raised(got, ResponseTooLargeError)
    assert isinstance(error, PermanentError) and "get job status" in str(error)
    assert peak < MEMORY_BOUND


def test_client_refuses_a_gzip_bomb_status_answer_in_bounded_memory(provider, answer):
    answer(lambda seen: gzip_bomb(64 * MIB, content_encoding=True, content_type="application/json"))

    got, peak = traced_peak(lambda: bing(provider).get_job("j1"))

    assert_raised(got, ResponseTooLargeError)
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize(
    "make",
    [
        lambda seen: endless(),
        lambda seen: trickle(b'{"statusCode": 200, "resourceSets": []}' * 2, every=1.0),
        lambda seen: trickled_headers(job_answer(), every=0.5),
    ],
    ids=["endless-chunked", "a-byte-a-second", "trickled-headers"],
)
def test_client_status_call_ends_at_its_deadline(provider, answer, make):
    answer(make)

    error = assert_raised(outcome(lambda: bing(provider).get_job("j1")), DeadlineExceededError)

    assert isinstance(error, TransientError)
    assert "within 2 s" in str(error) and SECRET_KEY not in str(error)


def test_client_deadline_covers_urllib3s_retries_too(provider, answer):
    """A 503 asking to come back in 30 s, retried 5 times: the deadline ends the whole call."""
    answer(lambda seen: json_answer(503, {"statusCode": 503}, **{"Retry-After": "30"}))

    got = outcome(lambda: bing(provider, retries=5).get_job("j1"))

    assert_raised(got, DeadlineExceededError)
    assert len(provider.seen) <= 2


def test_client_refuses_deeply_nested_json(provider, answer):
    answer(lambda seen: deep_json(300_000))

    got = outcome(lambda: bing(provider).get_job("j1"))

    assert isinstance(assert_raised(got, ResponseTooDeepError), PermanentError)


def test_client_refuses_deeply_nested_xml_without_building_it(provider, answer):
    answer(lambda seen: deep_xml(500_000))  # 3.5 MB: under the size cap

    got, peak = traced_peak(lambda: bing(provider).get_job("j1"))

    assert_raised(got, ResponseTooDeepError)
    assert peak < MEMORY_BOUND


def test_client_refuses_xml_too_large_to_read(provider, answer):
    answer(lambda seen: deep_xml(3_000_000))  # 21 MB

    assert_raised(outcome(lambda: bing(provider).get_job("j1")), ResponseTooLargeError)


# --- the Dataflow client: result sets, streamed -----------------------------------------------


def test_client_gunzips_a_result_bomb_in_bounded_pieces(provider, answer):
    answer(lambda seen: gzip_bomb(256 * MIB, content_encoding=False))

    def drain() -> int:
        return sum(
            len(piece)
            for piece in bing(provider).iter_results(completed_job(provider), "succeeded")
        )

    got, peak = traced_peak(drain)

    assert got == 256 * MIB  # under the default cap: read whole, a piece at a time
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize("content_encoding", [False, True], ids=["raw-gzip", "content-encoding"])
def test_client_caps_a_result_set_once_unpacked(provider, answer, content_encoding):
    answer(lambda seen: gzip_bomb(64 * MIB, content_encoding=content_encoding))
    client = bing(provider, max_result_bytes=8 * MIB)

    got = outcome(lambda: b"".join(client.iter_results(completed_job(provider), "succeeded")))

    error = assert_raised(got, ResponseTooLargeError)
    assert "max_result_bytes" in str(error)


def test_client_download_ends_at_its_deadline_and_does_not_start_over(provider, answer, tmp_path):
    answer(lambda seen: endless("text/plain", b"1,en-US,x\n" * 1000))
    client = bing(provider)

    with (tmp_path / "results.csv").open("wb") as sink:
        got = outcome(lambda: client.download_results(completed_job(provider), "succeeded", sink))

    assert_raised(got, DeadlineExceededError)
    assert len(provider.seen) == 1  # a seekable sink restarts broken downloads, not slow ones


# --- the Dataflow client: what the provider says carries no key ------------------------------


def test_client_scrubs_the_key_from_an_error_message_it_parses(provider, answer):
    said = f"Aborted: https://spatial.virtualearth.net/x?key={SECRET_KEY}&a=1 ({SECRET_KEY})"
    answer(lambda seen: job_answer(status="Aborted", errorMessage=said, description=seen.key))

    job = bing(provider).get_job("j1")

    assert job.is_aborted and job.error_message and "***" in job.error_message
    assert_secret_free(job, job.to_dict(), job.error_message, job.description)


def test_client_scrubs_the_key_from_an_xml_answer(provider, answer):
    document = (
        "<Response><StatusCode>200</StatusCode><ResourceSets><ResourceSet><Resources>"
        f"<DataflowJob><Id>j1</Id><Status>Aborted</Status><ErrorMessage>bad key {SECRET_KEY}"
        "</ErrorMessage></DataflowJob></Resources></ResourceSet></ResourceSets></Response>"
    )
    answer(lambda seen: body(200, document.encode(), "application/xml"))

    job = bing(provider).get_job("j1")

    assert job.error_message == "bad key ***"
    assert_secret_free(job)


def test_client_errors_carry_no_key_from_the_error_body(provider, answer):
    answer(
        lambda seen: json_answer(
            400,
            {
                "statusCode": 400,
                "statusDescription": f"Bad Request for key {seen.key}",
                "traceId": f"trace|{seen.key}",
                "errorDetails": [f"The key {seen.key} is not valid", f"?key={seen.key}"],
            },
        )
    )

    got = outcome(lambda: bing(provider).get_job("j1"))

    error = assert_raised(got, PermanentError)
    assert_secret_free(error, error.error_details, error.trace_id)


def test_client_job_from_a_location_header_carries_no_key(provider, answer):
    answer(
        lambda seen: Answer(
            201,
            {"Location": f"{provider.url}/REST/v1/Dataflows/Geocode/{seen.key}?key={seen.key}"},
            length=0,
        )
    )

    job = bing(provider).create_job(
        b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,x\n", "csv"
    )

    assert_secret_free(job, job.self_url, job.id)


def test_client_redirect_to_a_url_with_the_key_is_not_repeated(provider, answer):
    answer(
        lambda seen: Answer(
            302, {"Location": f"https://elsewhere.example/{seen.key}?key={seen.key}"}, length=0
        )
    )

    got = outcome(lambda: bing(provider).get_job("j1"))

    assert_secret_free(assert_raised(got, PermanentError))


# --- Azure Maps -----------------------------------------------------------------------------


def test_azure_refuses_a_huge_answer_in_bounded_memory(provider, answer):
    answer(lambda seen: huge(400 * MIB, chunked=True))

    got, peak = traced_peak(lambda: azure(provider).geocode_batch([entity()], text_format=False))

    assert isinstance(assert_raised(got, ResponseTooLargeError), PermanentError)
    assert peak < 2 * MEMORY_BOUND  # Azure's cap is 16 MB


def test_azure_refuses_a_gzip_bomb_in_bounded_memory(provider, answer):
    answer(
        lambda seen: gzip_bomb(256 * MIB, content_encoding=True, content_type="application/json")
    )

    got, peak = traced_peak(lambda: azure(provider).geocode_batch([entity()], text_format=False))

    assert_raised(got, ResponseTooLargeError)
    assert peak < 2 * MEMORY_BOUND


@pytest.mark.parametrize(
    "make",
    [
        lambda seen: endless(),
        lambda seen: trickle(b'{"batchItems": [{"features": []}]}' * 2, every=1.0),
        lambda seen: trickled_headers(json_answer(200, {"batchItems": [{}]}), every=0.5),
    ],
    ids=["endless-chunked", "a-byte-a-second", "trickled-headers"],
)
def test_azure_batch_ends_at_its_deadline(provider, answer, make):
    answer(make)

    got = outcome(lambda: azure(provider).geocode_batch([entity()], text_format=False))

    assert isinstance(assert_raised(got, DeadlineExceededError), TransientError)


def test_azure_refuses_deeply_nested_json(provider, answer):
    answer(lambda seen: deep_json(300_000))

    got = outcome(lambda: azure(provider).geocode_batch([entity()], text_format=False))

    assert_raised(got, ResponseTooDeepError)


def test_azure_item_error_echoing_the_key_fails_the_entity_without_it(provider, answer):
    message = f"Request https://atlas.microsoft.com/geocode?subscription-key={SECRET_KEY} refused"
    answer(
        lambda seen: json_answer(
            200, {"batchItems": [{"error": {"code": f"Bad{seen.key}", "message": message}}]}
        )
    )

    (failed,) = azure(provider).geocode_batch([entity()], text_format=False)

    assert failed.status_code == "BadRequest" and "***" in failed.fault_reason
    assert_secret_free(failed, failed.fault_reason)


def test_azure_batch_error_echoing_the_key_is_raised_without_it(provider, answer):
    answer(
        lambda seen: json_answer(
            401, {"error": {"code": "401", "message": f"subscription-key: {seen.key} is invalid"}}
        )
    )

    got = outcome(lambda: azure(provider).geocode_batch([entity()], text_format=False))

    assert_secret_free(assert_raised(got, PermanentError))


# --- Amazon Location (boto3 geo-places) -------------------------------------------------------


def test_amazon_refuses_a_huge_answer_in_bounded_memory(provider, answer):
    answer(lambda seen: huge(400 * MIB, chunked=True))

    got, peak = traced_peak(lambda: amazon(provider).geocode(entity(), text_format=False))

    assert_raised(got, ResponseTooLargeError)
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize(
    "make",
    [
        lambda seen: endless(),
        lambda seen: trickle(b'{"ResultItems": []}' * 4, every=1.0),
        lambda seen: trickled_headers(json_answer(200, {"ResultItems": []}), every=0.5),
    ],
    ids=["endless-chunked", "a-byte-a-second", "trickled-headers"],
)
def test_amazon_request_ends_at_its_deadline(provider, answer, make):
    answer(make)

    got = outcome(lambda: amazon(provider).geocode(entity(), text_format=False))

    assert isinstance(assert_raised(got, DeadlineExceededError), TransientError)


def test_amazon_refuses_deeply_nested_json(provider, answer):
    answer(lambda seen: deep_json(300_000))

    got = outcome(lambda: amazon(provider).geocode(entity(), text_format=False))

    assert_raised(got, ResponseTooDeepError)


@pytest.mark.parametrize(
    "make",
    [
        lambda seen: Answer(
            200, {"Content-Type": "application/json"}, lambda: [b'{"ResultItems": ['], length=4096
        ),
        lambda seen: body(200, b"<html>gateway error</html>", "text/html"),
    ],
    ids=["cut-short", "not-json"],
)
def test_amazon_unreadable_success_is_transient_not_a_no_match(provider, answer, make):
    answer(make)

    got = outcome(lambda: amazon(provider).geocode(entity(), text_format=False))

    assert_raised(got, ServiceUnavailableError)


def test_amazon_error_echoing_a_key_parameter_fails_the_entity_without_it(provider, answer):
    answer(
        lambda seen: json_answer(
            400,
            {"message": f"Invalid request ?key={SECRET_KEY}"},
            **{"x-amzn-ErrorType": "ValidationException"},
        )
    )

    failed = amazon(provider).geocode(entity(), text_format=False)

    assert failed.status_code == "BadRequest"
    assert_secret_free(failed.fault_reason)


def test_amazon_healthy_answer_still_maps(provider, answer):
    item = {
        "PlaceType": "Locality",
        "Title": "Boise, ID, United States",
        "Position": [-116.2, 43.6],
        "Address": {"Locality": "Boise", "Region": {"Code": "ID"}},
        "MatchScores": {"Overall": 0.97},
    }
    answer(lambda seen: json_answer(200, {"ResultItems": [item]}))

    started = time.monotonic()
    mapped = amazon(provider).geocode(entity(), text_format=False)

    assert mapped.status_code == "Success" and mapped.responses[0].address.locality == "Boise"
    assert time.monotonic() - started < FINISHES_WITHIN
    assert provider.seen[-1].headers["authorization"].startswith("AWS4-HMAC-SHA256")
