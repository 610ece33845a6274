"""Server-side checks of what botocore does not check client-side (reference §12)."""

import pytest
from location_emulator.validation import RequestValidationError, parse_body, validate


def errors_of(operation, body):
    with pytest.raises(RequestValidationError) as caught:
        validate(operation, body)
    return caught.value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"QueryText": "x" * 201}, "QueryText"),
        ({"QueryText": ""}, "QueryText"),
        ({"QueryText": "a", "MaxResults": 101}, "MaxResults"),
        ({"QueryText": "a", "MaxResults": 0}, "MaxResults"),
        ({"QueryText": "a", "IntendedUse": "Stored"}, "IntendedUse"),
        ({"QueryText": "a", "AdditionalFeatures": ["Contact"]}, "AdditionalFeatures[0]"),
        ({"QueryText": "a", "AddressNamesMode": "Bogus"}, "AddressNamesMode"),
        ({"QueryText": "a", "PoliticalView": "us"}, "PoliticalView"),
        ({"QueryText": "a", "Language": "e"}, "Language"),
        ({"QueryComponents": {"Locality": "a;b"}}, "QueryComponents.Locality"),
        ({"QueryComponents": {"Street": "s" * 101}}, "QueryComponents.Street"),
        (
            {"QueryText": "a", "Filter": {"IncludePlaceTypes": ["City"]}},
            "Filter.IncludePlaceTypes[0]",
        ),
        ({"QueryText": "a", "Filter": {"IncludeCountries": ["usa"]}}, "Filter.IncludeCountries[0]"),
        (
            {"QueryText": "a", "Filter": {"IncludeCountries": ["US"] * 101}},
            "Filter.IncludeCountries",
        ),
        ({"QueryText": "a", "BiasPosition": [1.0, 2.0, 3.0]}, "BiasPosition"),
        ({"QueryText": "a", "BiasPosition": [200.0, 0.0]}, "BiasPosition"),
    ],
)
def test_validate_geocode_constraints(body, field):
    error = errors_of("Geocode", body)
    assert error.reason == "FieldValidationFailed"
    assert field in [e.name for e in error.errors]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"QueryPosition": [-122.1, 91.0]}, "QueryPosition"),
        ({"QueryPosition": [-181.0, 47.6]}, "QueryPosition"),
        ({"QueryPosition": [1.0, 2.0], "MaxResults": 101}, "MaxResults"),
        ({"QueryPosition": [1.0, 2.0], "QueryRadius": 21_000_001}, "QueryRadius"),
        ({"QueryPosition": [1.0, 2.0], "Heading": 361.0}, "Heading"),
        (
            {"QueryPosition": [1.0, 2.0], "Filter": {"IncludePlaceTypes": ["PostalCode"]}},
            "Filter.IncludePlaceTypes[0]",
        ),
        ({"QueryPosition": [1.0, 2.0], "AddressNamesMode": "Matched"}, "AddressNamesMode"),
    ],
)
def test_validate_reverse_constraints(body, field):
    error = errors_of("ReverseGeocode", body)
    assert field in [e.name for e in error.errors]


def test_validate_reasons_for_missing_unknown_and_wrong_types():
    assert errors_of("Geocode", {}).reason == "Missing"
    assert errors_of("Geocode", {"QueryComponents": {}}).reason == "Missing"
    assert errors_of("ReverseGeocode", {}).errors[0].name == "QueryPosition"
    unknown = errors_of("Geocode", {"QueryText": "a", "Foo": 1})
    assert (unknown.reason, unknown.errors[0].name) == ("UnknownField", "Foo")
    # The key travels as ?key=, never in the body.
    assert errors_of("Geocode", {"QueryText": "a", "Key": "k"}).reason == "UnknownField"
    assert errors_of("Geocode", {"QueryText": "a", "MaxResults": "3"}).reason == "CannotParse"
    assert errors_of("Geocode", {"QueryText": "a", "MaxResults": True}).reason == "CannotParse"
    assert errors_of("ReverseGeocode", {"QueryPosition": ["1", "2"]}).reason == "CannotParse"


def test_validate_accepts_what_the_model_allows():
    validate(
        "Geocode",
        {
            "QueryText": "x" * 200,
            "QueryComponents": {"Country": "Canada", "Locality": "Vancouver"},
            "MaxResults": 100,
            "BiasPosition": [-123.1, 49.2],
            "Filter": {"IncludeCountries": ["CA", "CAN"], "IncludePlaceTypes": ["Locality"]},
            "AdditionalFeatures": ["TimeZone"],
            "Language": "en-US",
            "PoliticalView": "CAN",
            "IntendedUse": "Storage",
            "PostalCodeMode": "MergeAllSpannedLocalities",
            "AddressTranslations": ["Locality"],
            "AddressNamesMode": "Matched",
        },
    )
    validate("ReverseGeocode", {"QueryPosition": [180, -90], "MaxResults": 1, "Heading": 0.0})


def test_validate_collects_every_error_and_never_echoes_values():
    secret = "221B Baker Street;"
    error = errors_of("Geocode", {"QueryText": "x" * 300, "QueryComponents": {"Street": secret}})
    assert len(error.errors) == 2
    body = error.body()
    assert body["message"].startswith("2 validation errors detected")
    assert {f["name"] for f in body["fieldList"]} == {"QueryText", "QueryComponents.Street"}
    assert secret not in str(body)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_parse_body_refuses_what_is_not_a_json_object(raw):
    with pytest.raises(RequestValidationError) as caught:
        parse_body(raw)
    assert caught.value.reason == "CannotParse"


def test_parse_body_empty_is_an_empty_object():
    assert parse_body(b"") == {}
