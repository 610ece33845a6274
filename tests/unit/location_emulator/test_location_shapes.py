"""The emulator's raw JSON answers against botocore's model, so the two cannot drift.

Over real HTTP botocore drops unknown or misspelt members silently (reference §12); here every
answer goes through botocore's own ``ParamValidator`` and ``Stubber`` (unknown members, required
members, types) and through a walk of the output shape (maximums, enums, patterns, ranges).
"""

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator
from location_emulator.validation import operation_model, shape_errors

GEOCODE_BODIES = [
    {"QueryText": "Denver, CO"},
    {"QueryComponents": {"Locality": "Boise", "Region": "ID", "Country": "USA"}},
    {"QueryText": "Paris"},
    {"QueryText": "Springfield", "MaxResults": 100, "BiasPosition": [-89.6, 39.8]},
    {"QueryText": "98052", "IntendedUse": "Storage"},
    {"QueryText": "Tokyo, Japan", "Language": "ja"},
    {"QueryText": "1 Microsoft Way, Redmond, WA 98052"},
    {
        "QueryText": "W. 6th St",
        "QueryComponents": {"AddressNumber": "415", "Locality": "Vancouver", "Country": "Canada"},
    },
    {"QueryText": "Colorado"},
    {"QueryText": "France", "AdditionalFeatures": ["TimeZone"]},
    {"QueryText": "Seattle Space Needle"},
    {"QueryText": "Qwxyzzy Plugh"},  # no match
    {"QueryComponents": {"PostalCode": "10001", "SubRegion": "New York County"}},
]
REVERSE_BODIES = [
    {"QueryPosition": [-122.12934, 47.64054], "MaxResults": 10},
    {"QueryPosition": [2.35, 48.85]},
    {"QueryPosition": [139.69, 35.69], "MaxResults": 5, "IntendedUse": "Storage"},
    {"QueryPosition": [178.44, -18.14], "MaxResults": 5},  # Fiji, by the antimeridian
    {"QueryPosition": [-149.9, 61.2], "Filter": {"IncludePlaceTypes": ["Locality"]}},
    {"QueryPosition": [-140.0, 0.0]},  # mid-Pacific: no match
]


@pytest.fixture(scope="module")
def client():
    return boto3.client(
        "geo-places", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def answers(places, operation, bodies):
    for body in bodies:
        answer = places.geocode(body) if operation == "Geocode" else places.reverse(body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        yield body, {**answer.json, "PricingBucket": answer.headers["x-amz-geo-pricing-bucket"]}


@pytest.mark.parametrize(
    ("operation", "method", "bodies"),
    [("Geocode", "geocode", GEOCODE_BODIES), ("ReverseGeocode", "reverse_geocode", REVERSE_BODIES)],
)
def test_shapes_answers_match_the_botocore_model(places, client, operation, method, bodies):
    output_shape = operation_model(operation).output_shape
    seen_types = set()
    for body, response in answers(places, operation, bodies):
        report = ParamValidator().validate(response, output_shape)
        assert not report.has_errors(), (body, report.generate_report())
        assert shape_errors(output_shape, response) == [], body
        with Stubber(client) as stubber:
            stubber.add_response(method, response)  # validates against the model too
        seen_types.update(item["PlaceType"] for item in response["ResultItems"])
    assert {"Locality", "PostalCode", "Region", "Country"} <= seen_types


def test_shapes_the_check_itself_catches_drift(places):
    """A misspelt member, a missing PlaceId or a bad enum value would be caught."""
    output_shape = operation_model("Geocode").output_shape
    _, good = next(answers(places, "Geocode", [{"QueryText": "Denver, CO"}]))
    item = good["ResultItems"][0]
    misspelt = {**good, "ResultItems": [{**item, "Placeid": item["PlaceId"]}]}
    assert ParamValidator().validate(misspelt, output_shape).has_errors()
    missing = {**good, "ResultItems": [{k: v for k, v in item.items() if k != "PlaceId"}]}
    assert ParamValidator().validate(missing, output_shape).has_errors()
    no_bucket = {k: v for k, v in good.items() if k != "PricingBucket"}
    assert ParamValidator().validate(no_bucket, output_shape).has_errors()
    bad_enum = {**good, "ResultItems": [{**item, "PlaceType": "City"}]}
    assert shape_errors(output_shape, bad_enum)
