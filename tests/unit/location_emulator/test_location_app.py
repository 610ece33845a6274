"""The WSGI app: routing, headers, errors, authentication, limits, faults and counters."""

import logging
import uuid

from location_emulator import FaultConfig, LocationEmulatorApp, LocationEmulatorConfig
from location_unit_support import REVERSE, Places


def test_app_geocode_answers_json_with_request_id_and_pricing_bucket(places):
    answer = places.geocode({"QueryText": "Denver, CO"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    uuid.UUID(answer.headers["x-amzn-RequestId"])
    assert answer.headers["x-amz-geo-pricing-bucket"] == "Core"
    assert answer.json["ResultItems"][0]["PlaceType"] == "Locality"


def test_app_pricing_bucket_follows_intended_use_and_features(places):
    def bucket(**extra):
        answer = places.geocode({"QueryText": "Denver, CO", **extra})
        return answer.headers["x-amz-geo-pricing-bucket"]

    assert bucket(IntendedUse="SingleUse") == "Core"
    assert bucket(IntendedUse="Storage") == "Stored"
    assert bucket(AdditionalFeatures=["TimeZone"]) == "Advanced"
    assert bucket(AdditionalFeatures=["Access"], IntendedUse="Storage") == "Stored"
    assert bucket(AdditionalFeatures=["Intersections"]) == "Core"
    reverse = places.reverse({"QueryPosition": [-104.99, 39.74], "IntendedUse": "Storage"})
    assert reverse.headers["x-amz-geo-pricing-bucket"] == "Stored"


def test_app_unknown_route_is_404(places):
    assert places.post("/v2/autocomplete", {}).status_code == 404
    answer = places.client.get("/v2/geocode")
    assert answer.status_code == 404
    assert answer.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_app_validation_error_envelope(places):
    answer = places.geocode({"QueryText": "x" * 300})
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "ValidationException"
    assert set(answer.json) == {"message", "reason", "fieldList"}
    assert answer.json["reason"] == "FieldValidationFailed"
    assert answer.json["fieldList"][0]["name"] == "QueryText"
    assert places.geocode(raw="{oops").json["reason"] == "CannotParse"
    assert places.geocode({}).json["reason"] == "Missing"
    assert places.geocode({"QueryText": "   "}).json["reason"] == "Missing"


def test_app_authentication(make_places):
    places = make_places(api_keys={"good-key"})
    unsigned = places.geocode({"QueryText": "Boise"}, authorization=None)
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    keyed = places.geocode({"QueryText": "Boise"}, authorization=None, query="key=good-key")
    assert keyed.status_code == 200
    wrong = places.geocode({"QueryText": "Boise"}, authorization=None, query="key=bad-key")
    assert wrong.status_code == 403
    assert wrong.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "bad-key" not in wrong.get_data(as_text=True)


def test_app_never_logs_the_key(make_places, caplog):
    caplog.set_level(logging.DEBUG, logger="location_emulator")
    places = make_places(api_keys={"s3cret-key-value"})
    for key in ("s3cret-key-value", "s3cret-key-wrong"):
        places.geocode({"QueryText": "Boise"}, authorization=None, query=f"key={key}")
    assert "s3cret" not in caplog.text


def test_app_body_too_large_is_413(make_places):
    places = make_places(max_body_bytes=1024)
    answer = places.geocode({"QueryText": "x" * 2000})
    assert answer.status_code == 413


def test_app_rate_limit_and_counters(make_places):
    places = make_places(rate_limit=2)
    statuses = [places.geocode({"QueryText": "Boise"}).status_code for _ in range(3)]
    statuses.append(places.reverse({"QueryPosition": [-116.2, 43.6]}).status_code)
    assert statuses == [200, 200, 429, 429]
    throttled = places.geocode({"QueryText": "Boise"})
    assert throttled.headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert throttled.json == {"message": "Rate exceeded"}
    state = places.app.state
    assert state.requests == {"Geocode": 4, "ReverseGeocode": 1}
    assert (state.accepted, state.rate_limited, state.throttled) == (2, 3, 3)
    assert state.errors == {429: 3}
    assert state.succeeded == 2
    assert state.max_accepted_per_second == 2
    assert len(state.accepted_timestamps) == 2
    snapshot = places.app.stats
    assert snapshot["errors"] == {"429": 3} and snapshot["rate_limit"] == 2
    state.reset()
    assert state.accepted == 0 and state.accepted_timestamps == []
    assert places.geocode({"QueryText": "Boise"}).status_code == 200


def test_app_rate_limit_changes_at_runtime(make_places):
    places = make_places(rate_limit=1)
    assert places.geocode({"QueryText": "Boise"}).status_code == 200
    assert places.geocode({"QueryText": "Boise"}).status_code == 429
    places.app.set_rate_limit(0)
    assert places.geocode({"QueryText": "Boise"}).status_code == 200


def test_app_injected_faults_are_counted(make_places):
    places = make_places(faults=FaultConfig(throttle_rate=1.0))
    assert places.geocode({"QueryText": "Boise"}).status_code == 429
    places.app.set_faults(FaultConfig(error_rate=1.0))
    error = places.reverse({"QueryPosition": [-116.2, 43.6]})
    assert error.status_code == 500
    assert error.headers["x-amzn-ErrorType"] == "InternalServerException"
    places.app.set_faults(FaultConfig(delay_seconds=0.01))
    assert places.geocode({"QueryText": "Boise"}).status_code == 200
    state = places.app.state
    assert state.faults == {"throttle": 1, "error": 1, "delay": 1}
    # The injected 429 never reached the quota; the 500 did (it was let through first).
    assert (state.accepted, state.rate_limited, state.throttled) == (2, 0, 1)
    assert state.errors == {429: 1, 500: 1}


class BrokenGeocoder:
    """A geocoder with a bug: the app must still answer the service's 500 shape."""

    gazetteer = None

    def forward(self, request, **_):
        raise RuntimeError("bug")


def test_app_bug_is_a_500_internal_server_exception(caplog):
    app = LocationEmulatorApp(LocationEmulatorConfig(), geocoder=BrokenGeocoder())
    answer = Places(app).geocode({"QueryText": "Boise"})
    assert answer.status_code == 500
    assert answer.headers["x-amzn-ErrorType"] == "InternalServerException"
    assert answer.json == {"message": "An internal error occurred."}


def test_app_reverse_needs_a_position(places):
    answer = places.post(REVERSE, {"QueryPosition": [0.0]})
    assert answer.status_code == 400
    assert answer.json["fieldList"][0]["name"] == "QueryPosition"
