"""The unmodified azure-maps-search client against the emulator over real HTTP."""

import json
import logging
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure_http_support import KEY, maps_client

pytestmark = pytest.mark.integration


def near(feature, lat, lon, degrees=0.5):
    lon_found, lat_found = feature["geometry"]["coordinates"]
    return abs(lat_found - lat) < degrees and abs(lon_found - lon) < degrees


def test_sdk_forward_batch(azure_emulator):
    answer = maps_client(azure_emulator).get_geocoding_batch(
        {
            "batchItems": [
                {"query": "Denver, CO", "optionalId": "1"},
                {"locality": "Boise", "adminDistrict": "ID", "top": 1, "optionalId": "2"},
                {"query": "Pike Pl", "locality": "Seattle"},
                {"query": "Qwxyzzy Plugh", "optionalId": "4"},
            ]
        }
    )
    assert answer["summary"] == {"successfulRequests": 3, "totalRequests": 4}
    denver, boise, conflict, nothing = answer["batchItems"]
    assert (denver["optionalId"], boise["optionalId"], nothing["optionalId"]) == ("1", "2", "4")
    assert near(denver["features"][0], 39.74, -104.99)
    [boise_feature] = boise["features"]
    assert boise_feature["properties"]["address"]["adminDistricts"][0]["shortName"] == "ID"
    assert conflict["error"]["code"] == "Conflicting Parameters"
    assert nothing["features"] == []
    assert azure_emulator.state.items == {"geocode:batch": 4}


def test_sdk_forward_batch_on_the_latest_version_with_a_language(azure_emulator):
    client = maps_client(azure_emulator, api_version="2026-01-01", accept_language="en-GB")
    answer = client.get_geocoding_batch({"batchItems": [{"query": "London, GB", "top": 1}]})
    [london] = answer["batchItems"][0]["features"]
    assert london["properties"]["address"]["countryRegion"] == {
        "ISO": "GB",
        "name": "United Kingdom",
    }
    assert near(london, 51.5, -0.13)


def test_sdk_reverse_batch(azure_emulator):
    answer = maps_client(azure_emulator, api_version="2025-01-01").get_reverse_geocoding_batch(
        {
            "batchItems": [
                {"coordinates": [-122.12934, 47.64054], "optionalId": "a"},
                {"coordinates": [-104.99, 39.74], "resultTypes": ["PopulatedPlace"]},
                {"coordinates": [47.630358, -122.138681], "optionalId": "c"},
            ]
        }
    )
    assert answer["summary"] == {"successfulRequests": 2, "totalRequests": 3}
    redmond, denver, bad = answer["batchItems"]
    assert redmond["optionalId"] == "a"
    assert redmond["features"][0]["properties"]["address"]["locality"] == "Redmond"
    [place] = denver["features"]
    assert place["properties"]["type"] == "PopulatedPlace"
    assert place["properties"]["address"]["locality"] == "Denver"
    assert bad["error"]["code"] == "400 Bad Request" and bad["optionalId"] == "c"
    assert azure_emulator.state.requests == {"reverseGeocode:batch": 1}


def test_sdk_wrong_key_is_a_client_authentication_error(azure_emulator):
    client = maps_client(azure_emulator, key="not-the-key")
    with pytest.raises(ClientAuthenticationError) as caught:
        client.get_geocoding_batch({"batchItems": [{"query": "Denver"}]})
    error = caught.value
    assert error.status_code == 401
    assert error.error.code == "Unauthorized"
    assert error.response.headers["WWW-Authenticate"].startswith(
        'SharedKey realm="https://atlas.microsoft.com/", error="InvalidKey"'
    )
    assert "not-the-key" not in str(error) and "not-the-key" not in error.response.text()
    assert azure_emulator.state.errors == {401: 1}


def test_sdk_unknown_api_version_is_400(azure_emulator):
    client = maps_client(azure_emulator, api_version="2024-04-01-preview")
    with pytest.raises(HttpResponseError) as caught:
        client.get_reverse_geocoding_batch({"batchItems": [{"coordinates": [0, 0]}]})
    assert caught.value.status_code == 400
    assert caught.value.error.code == "BadRequest"
    assert "2024-04-01-preview" in caught.value.error.message


def test_sdk_more_than_100_items_is_400(azure_emulator):
    with pytest.raises(HttpResponseError) as caught:
        maps_client(azure_emulator).get_geocoding_batch({"batchItems": [{"query": "Denver"}] * 101})
    assert caught.value.status_code == 400 and "at most 100" in caught.value.error.message


def test_http_key_as_query_parameter(azure_emulator):
    def post(query):
        request = urllib.request.Request(
            f"{azure_emulator.url}/geocode:batch?api-version=2026-01-01&{query}",
            data=json.dumps({"batchItems": [{"query": "Boise"}]}).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    assert post(f"subscription-key={KEY}") == 200
    assert post("subscription-key=wrong") == 401


def test_emulator_never_logs_the_key(start_azure_emulator, caplog):
    for name in ("azure_maps_emulator", "waitress"):
        caplog.set_level(logging.DEBUG, logger=name)
    server = start_azure_emulator(keys={"emulator-secret-1"})
    maps_client(server, key="emulator-secret-1").get_geocoding_batch(
        {"batchItems": [{"query": "Boise"}]}
    )
    with pytest.raises(ClientAuthenticationError):
        maps_client(server, key="emulator-secret-2").get_geocoding_batch(
            {"batchItems": [{"query": "Boise"}]}
        )
    emulator_records = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("azure_maps_emulator", "waitress"))
    ]
    assert not any("emulator-secret" in message for message in emulator_records)
