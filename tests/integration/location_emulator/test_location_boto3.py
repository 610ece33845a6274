"""An unmodified boto3 geo-places client against the emulator over real HTTP."""

import logging
import uuid

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from location_http_support import NO_RETRIES, SIGV4, places_client, raw_post

pytestmark = pytest.mark.integration


def near(position, lat, lon, degrees=0.5):
    lon_found, lat_found = position
    return abs(lat_found - lat) < degrees and abs(lon_found - lon) < degrees


def test_boto3_geocode_free_form(location_emulator):
    answer = places_client(location_emulator).geocode(QueryText="Denver, CO")
    denver = answer["ResultItems"][0]
    assert near(denver["Position"], 39.74, -104.99)
    assert denver["PlaceType"] == "Locality"
    assert denver["Address"]["Region"]["Code"] == "CO"
    assert denver["MatchScores"]["Overall"] >= 0.95
    assert answer["PricingBucket"] == "Core"
    uuid.UUID(answer["ResponseMetadata"]["RequestId"])


def test_boto3_geocode_structured(location_emulator):
    answer = places_client(location_emulator).geocode(
        QueryComponents={"Locality": "Boise", "Region": "ID", "Country": "USA"},
        MaxResults=1,
        IntendedUse="Storage",
        Language="en-US",
    )
    [boise] = answer["ResultItems"]
    assert near(boise["Position"], 43.61, -116.20)
    assert boise["Address"]["Country"]["Code3"] == "USA"
    assert answer["PricingBucket"] == "Stored"


def test_boto3_reverse_geocode(location_emulator):
    answer = places_client(location_emulator).reverse_geocode(
        QueryPosition=[-122.12934, 47.64054], IntendedUse="Storage"
    )
    [first] = answer["ResultItems"]
    assert first["Address"]["Locality"] == "Redmond"
    assert near(first["Position"], 47.64, -122.13, degrees=0.2)
    assert 0 <= first["Distance"] < 10_000
    assert "MatchScores" not in first
    assert answer["PricingBucket"] == "Stored"
    assert answer["ResponseMetadata"]["RequestId"]


def test_boto3_no_match_is_an_empty_list(location_emulator):
    client = places_client(location_emulator)
    assert client.geocode(QueryText="Qwxyzzy Plugh")["ResultItems"] == []
    assert client.reverse_geocode(QueryPosition=[-140.0, 0.0])["ResultItems"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"QueryText": "x" * 300}, "QueryText"),
        ({"QueryText": "Boise", "MaxResults": 101}, "MaxResults"),
        ({"QueryText": "Boise", "IntendedUse": "Bogus"}, "IntendedUse"),
        ({"QueryComponents": {"Locality": "Boise; ID"}}, "QueryComponents.Locality"),
        (
            {"QueryText": "Boise", "Filter": {"IncludePlaceTypes": ["City"]}},
            "Filter.IncludePlaceTypes[0]",
        ),
        ({"QueryText": "Boise", "PoliticalView": "us"}, "PoliticalView"),
    ],
)
def test_boto3_validation_exception(location_emulator, params, field):
    client = places_client(location_emulator, **NO_RETRIES)
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.geocode(**params)
    response = caught.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Reason"] == "FieldValidationFailed"
    assert [f["Name"] for f in response["FieldList"]] == [field]
    assert response["FieldList"][0]["Message"]


def test_boto3_validation_missing_query(location_emulator):
    client = places_client(location_emulator)
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.geocode()
    assert caught.value.response["Reason"] == "Missing"


def test_http_unknown_member_and_bad_json(location_emulator):
    status, headers, body = raw_post(location_emulator, "/v2/geocode", {"QueryText": "a", "Foo": 1})
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert body["reason"] == "UnknownField" and body["fieldList"] == [
        {"name": "Foo", "message": "Unknown member."}
    ]
    status, _, body = raw_post(location_emulator, "/v2/reverse-geocode", b"{nope")
    assert (status, body["reason"]) == (400, "CannotParse")


def test_boto3_unsigned_without_key_is_403(location_emulator):
    client = places_client(location_emulator, signature_version=UNSIGNED, **NO_RETRIES)
    with pytest.raises(ClientError) as caught:
        client.geocode(QueryText="Boise")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "MissingAuthenticationTokenException"


def test_boto3_api_key_mode(start_location_emulator):
    server = start_location_emulator(api_keys={"emulator-key"})
    client = places_client(server, signature_version=UNSIGNED, **NO_RETRIES)
    answer = client.geocode(QueryText="Boise, ID", Key="emulator-key")
    assert near(answer["ResultItems"][0]["Position"], 43.61, -116.20)
    assert client.reverse_geocode(QueryPosition=[-116.2, 43.6], Key="emulator-key")["ResultItems"]
    with pytest.raises(client.exceptions.AccessDeniedException) as caught:
        client.geocode(QueryText="Boise, ID", Key="not-the-key")
    assert "not-the-key" not in str(caught.value.response)


def test_http_signature_for_another_service_is_403(location_emulator):
    wrong = SIGV4.replace("/geo-places/", "/geo-maps/")
    status, headers, body = raw_post(
        location_emulator, "/v2/geocode", {"QueryText": "Boise"}, authorization=wrong
    )
    assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert "geo-places" in body["message"]


def test_emulator_never_logs_the_key(start_location_emulator, caplog):
    for name in ("location_emulator", "waitress"):
        caplog.set_level(logging.DEBUG, logger=name)
    server = start_location_emulator(api_keys={"emulator-secret-1"})
    client = places_client(server, signature_version=UNSIGNED, **NO_RETRIES)
    client.geocode(QueryText="Boise", Key="emulator-secret-1")
    with pytest.raises(ClientError):
        client.geocode(QueryText="Boise", Key="emulator-secret-2")
    emulator_records = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("location_emulator", "waitress"))
    ]
    assert not any("emulator-secret" in message for message in emulator_records)
