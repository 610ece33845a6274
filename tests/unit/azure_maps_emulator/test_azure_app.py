"""The WSGI app: routing, headers, api-version, the envelope, authentication and counters."""

import logging
import uuid

import pytest
from azure_unit_support import GEOCODE, KEY

DENVER = {"query": "Denver, CO"}


def test_app_answers_json_with_a_request_id(maps):
    answer = maps.geocode([DENVER])
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    uuid.UUID(answer.headers["x-ms-request-id"])
    assert set(answer.json) == {"summary", "batchItems"}


@pytest.mark.parametrize("version", ["2026-01-01", "2025-01-01", "2023-06-01"])
def test_app_accepts_the_three_stable_api_versions(maps, version):
    assert maps.geocode([DENVER], api_version=version).status_code == 200
    assert maps.reverse([{"coordinates": [-104.99, 39.74]}], api_version=version).status_code == 200


@pytest.mark.parametrize(
    ("version", "words"),
    [(None, "is required"), ("", "is required"), ("2024-04-01-preview", "not supported")],
)
def test_app_missing_or_unknown_api_version_is_400(maps, version, words):
    answer = maps.geocode([DENVER], api_version=version)
    assert answer.status_code == 400
    error = answer.json["error"]
    assert error["code"] == "BadRequest" == answer.headers["x-ms-error-code"]
    assert words in error["message"] and "api-version" in error["message"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("{oops", "not valid JSON"),
        ("", "must be a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "'batchItems' must be a list"),
        ('{"batchItems": {}}', "'batchItems' must be a list"),
        ('{"batchItems": []}', "at least 1 item"),
    ],
)
def test_app_bad_body_is_400_error_response(maps, raw, words):
    answer = maps.geocode(raw=raw)
    assert answer.status_code == 400
    assert set(answer.json) == {"error"}
    assert set(answer.json["error"]) == {"code", "message"}
    assert words in answer.json["error"]["message"]


def test_app_more_than_100_items_is_400(maps):
    assert maps.geocode([DENVER] * 100).status_code == 200
    answer = maps.reverse([{"coordinates": [0, 0]}] * 101)
    assert answer.status_code == 400
    assert "at most 100" in answer.json["error"]["message"]


def test_app_max_batch_items_is_configurable(make_maps):
    maps = make_maps(max_batch_items=2)
    assert maps.geocode([DENVER] * 2).status_code == 200
    assert maps.geocode([DENVER] * 3).status_code == 400


def test_app_unknown_route_or_method_is_404(maps):
    assert maps.post("/geocode", [DENVER]).status_code == 404
    assert maps.post("/search/polygon", [DENVER]).status_code == 404
    answer = maps.client.get(GEOCODE, query_string={"api-version": "2026-01-01"})
    assert answer.status_code == 404
    assert answer.headers["x-ms-error-code"] == "NotFound"


def test_app_body_too_large_is_413(make_maps):
    maps = make_maps(max_body_bytes=1024)
    answer = maps.geocode([{"query": "x" * 2000}])
    assert answer.status_code == 413


# -- authentication --------------------------------------------------------------------------------


def assert_unauthorized(answer, scheme="SharedKey"):
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith(f'{scheme} realm="https://atlas.microsoft.com/"')
    assert answer.json == {
        "error": {
            "code": "Unauthorized",
            "message": "Access denied, please inspect WWW-Authenticate header.",
            "target": None,
            "details": [],
        }
    }


def test_app_missing_key_is_401(maps):
    answer = maps.geocode([DENVER], key=None)
    assert_unauthorized(answer)
    assert 'error="InvalidKey"' in answer.headers["WWW-Authenticate"]


def test_app_wrong_key_is_401_and_never_echoed(maps):
    answer = maps.reverse([{"coordinates": [0, 0]}], key="wrong-key-123")
    assert_unauthorized(answer)
    assert "wrong-key-123" not in answer.get_data(as_text=True)
    assert not any("wrong-key-123" in value for _, value in answer.headers)


def test_app_key_as_query_parameter(maps):
    assert maps.geocode([DENVER], key=None, query={"subscription-key": KEY}).status_code == 200
    wrong = maps.geocode([DENVER], key=None, query={"subscription-key": "nope"})
    assert_unauthorized(wrong)


def test_app_header_key_decides_over_the_query(maps):
    answer = maps.geocode([DENVER], key="nope", query={"subscription-key": KEY})
    assert answer.status_code == 401


def test_app_sas_token_alone_gets_the_jwt_sas_challenge(maps):
    answer = maps.geocode([DENVER], key=None, headers={"Authorization": "jwt-sas abc.def"})
    assert_unauthorized(answer, scheme="jwt-sas")
    assert 'error="InvalidClientId"' in answer.headers["WWW-Authenticate"]


def test_app_accepts_any_configured_key(make_maps):
    maps = make_maps(keys={"first", "second"})
    assert maps.geocode([DENVER], key="first").status_code == 200
    assert maps.geocode([DENVER], key="second").status_code == 200
    assert maps.geocode([DENVER], key="third").status_code == 401


def test_app_no_keys_refuses_everyone(make_maps):
    assert make_maps(keys=set()).geocode([DENVER]).status_code == 401


def test_app_auth_comes_before_the_api_version_and_the_body(maps):
    assert maps.geocode(raw="{oops", api_version=None, key="bad").status_code == 401


def test_app_never_logs_the_key(make_maps, caplog):
    caplog.set_level(logging.DEBUG, logger="azure_maps_emulator")
    maps = make_maps(keys={"s3cret-key-value"})
    for key in ("s3cret-key-value", "s3cret-key-wrong"):
        maps.geocode([DENVER], key=key)
        maps.geocode([DENVER], key=None, query={"subscription-key": key})
    assert "s3cret" not in caplog.text


# -- counters --------------------------------------------------------------------------------------


def test_app_counts_requests_items_and_answers(maps):
    maps.geocode([DENVER, {"query": "Boise", "locality": "Boise"}])
    maps.reverse([{"coordinates": [-104.99, 39.74]}])
    maps.reverse([{"coordinates": [0, 0]}], key="bad")
    maps.geocode(raw="{oops")
    state = maps.app.state
    assert state.requests == {"geocode:batch": 2, "reverseGeocode:batch": 2}
    assert state.items == {"geocode:batch": 2, "reverseGeocode:batch": 1}
    assert state.item_errors == {"geocode:batch": 1}
    assert state.accepted == 3 and state.succeeded == 2
    assert state.errors == {401: 1, 400: 1}
    snapshot = maps.app.stats
    assert snapshot["items"] == {"geocode:batch": 2, "reverseGeocode:batch": 1}
    assert snapshot["errors"] == {"400": 1, "401": 1}
    state.reset()
    assert state.snapshot()["items"] == {} and state.requests == {} and state.accepted == 0


def test_app_accept_language_applies_to_the_whole_request(maps, monkeypatch):
    seen = []
    forward = maps.app.geocoder.forward
    monkeypatch.setattr(
        maps.app.geocoder,
        "forward",
        lambda request: seen.append(request.culture) or forward(request),
    )
    maps.geocode([DENVER, {"locality": "Boise"}], headers={"Accept-Language": "fr-FR"})
    assert seen == ["fr-FR", "fr-FR"]
