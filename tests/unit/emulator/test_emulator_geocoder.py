"""The emulator's offline geocoder: the must-pass answers, honest result fields, entity faults."""

import pytest
from geocode_dataflow.schema.model import (
    Address,
    GeocodeEntity,
    GeocodeRequest,
    ReverseGeocodeRequest,
)
from offline_geocoder.gazetteer import distance_km
from offline_geocoder.geocoder import FAULT_FORMATTED_ADDRESS, FAULT_NO_ADDRESS, Geocoder

MICROSOFT = (47.6401, -122.1297)


@pytest.fixture(scope="module")
def geocoder():
    return Geocoder()


def _km(response, lat, lon):
    return distance_km(float(response.point.latitude), float(response.point.longitude), lat, lon)


def _assert_microsoft_campus(responses):
    assert responses, "no result"
    best = responses[0]
    assert _km(best, *MICROSOFT) < 10
    assert best.entity_type in ("Postcode1", "PopulatedPlace")  # never claims Address precision
    assert "UpHierarchy" in best.match_codes  # a street address answered at a coarser level
    assert best.confidence == "High"  # postal code and locality agree
    assert best.address.locality == "Redmond"
    assert best.address.country_region == "United States"
    assert best.geocode_points[0].usage_types == "Display"
    assert best.geocode_points[0].calculation_method != "Rooftop"


def test_geocoder_structured_address_lands_in_redmond(geocoder):
    request = GeocodeRequest(
        address=Address(
            address_line="1 Microsoft Way",
            locality="Redmond",
            admin_district="WA",
            postal_code="98052",
        )
    )
    _assert_microsoft_campus(geocoder.forward(request))


def test_geocoder_query_address_lands_in_redmond(geocoder):
    _assert_microsoft_campus(
        geocoder.forward(GeocodeRequest(query="1 Microsoft Way, Redmond, WA 98052"))
    )


def test_geocoder_postcode_result_has_consistent_fields(geocoder):
    best = geocoder.forward(GeocodeRequest(query="98052"))[0]
    assert best.entity_type == "Postcode1"
    assert best.match_codes == "Good"
    assert best.address.postal_code == "98052"
    assert best.address.admin_district2 == "King Co."
    assert best.name == best.address.formatted_address == "Redmond, WA 98052"
    box = best.bounding_box
    assert float(box.south_latitude) < float(best.point.latitude) < float(box.north_latitude)
    assert float(box.west_longitude) < float(best.point.longitude) < float(box.east_longitude)


def test_geocoder_reverse_names_redmond(geocoder):
    responses = geocoder.reverse(
        ReverseGeocodeRequest(latitude="47.64054", longitude="-122.12934", max_results=5)
    )
    assert responses[0].address.locality == "Redmond"
    place = [r for r in responses if r.entity_type == "PopulatedPlace"]
    assert place and place[0].name == "Redmond, WA"
    assert [r.entity_type for r in responses] == [
        "Postcode1",
        "PopulatedPlace",
        "AdminDivision1",
        "CountryRegion",
    ]


def test_geocoder_reverse_respects_include_entity_types(geocoder):
    only_places = geocoder.reverse(
        ReverseGeocodeRequest(
            latitude="47.64054",
            longitude="-122.12934",
            max_results=5,
            include_entity_types="Neighborhood,PopulatedPlace",
        )
    )
    assert [r.entity_type for r in only_places] == ["PopulatedPlace"]
    assert (
        geocoder.reverse(
            ReverseGeocodeRequest(
                latitude="47.64054", longitude="-122.12934", include_entity_types="Neighborhood"
            )
        )
        == []
    )


def test_geocoder_reverse_far_from_any_place_finds_nothing(geocoder):
    assert geocoder.reverse(ReverseGeocodeRequest(latitude="0", longitude="-30")) == []


def test_geocoder_reverse_outside_the_us(geocoder):
    best = geocoder.reverse(ReverseGeocodeRequest(latitude="48.8566", longitude="2.3522"))[0]
    assert (best.entity_type, best.address.locality, best.address.country_region) == (
        "PopulatedPlace",
        "Paris",
        "France",
    )
    assert best.address.postal_code is None


@pytest.mark.parametrize(
    ("query", "locality", "country"),
    [
        ("Paris, France", "Paris", "France"),
        ("Denver, CO", "Denver", "United States"),  # CO is Colorado here, not Colombia
        ("Munich, Germany", "Munich", "Germany"),
        ("Tokyo", "Tokyo", "Japan"),
    ],
)
def test_geocoder_finds_populated_places(geocoder, query, locality, country):
    best = geocoder.forward(GeocodeRequest(query=query))[0]
    assert best.entity_type == "PopulatedPlace"
    assert (best.address.locality, best.address.country_region) == (locality, country)


def test_geocoder_country_and_state_levels(geocoder):
    france = geocoder.forward(GeocodeRequest(query="France"))[0]
    assert (france.entity_type, france.address.country_region) == ("CountryRegion", "France")
    state = geocoder.forward(GeocodeRequest(address=Address(admin_district="WA")))[0]
    assert (state.entity_type, state.address.admin_district) == ("AdminDivision1", "WA")


def test_geocoder_marks_ties_ambiguous_and_honours_max_results(geocoder):
    responses = geocoder.forward(GeocodeRequest(query="Springfield", max_results=3))
    assert len(responses) == 3
    assert all("Ambiguous" in r.match_codes for r in responses)
    assert {r.address.admin_district for r in responses} <= {"MO", "MA", "IL", "OR", "OH"}
    assert len(geocoder.forward(GeocodeRequest(query="Springfield"))) == 1  # default: one


def test_geocoder_confidence_filter_drops_weaker_results(geocoder):
    request = GeocodeRequest(query="Springfield", max_results=5, min_confidence="High")
    assert geocoder.forward(request) == []  # an ambiguous name is never High


def test_geocoder_query_parse_values_only_when_asked(geocoder):
    request = GeocodeRequest(query="1 Microsoft Way, Redmond, WA 98052")
    assert geocoder.forward(request)[0].query_parse_values == []
    request.include_query_parse = True
    values = {(v.property, v.value) for v in geocoder.forward(request)[0].query_parse_values}
    assert {
        ("AddressLine", "1 Microsoft Way"),
        ("Locality", "Redmond"),
        ("PostalCode", "98052"),
    } <= values


def test_geocoder_disagreeing_postal_code_and_locality_is_low_confidence(geocoder):
    address = Address(locality="Denver", admin_district="CO", postal_code="98052")
    responses = geocoder.forward(GeocodeRequest(address=address, max_results=2))
    assert responses[0].confidence == "Low"
    assert "Ambiguous" in responses[0].match_codes


def test_geocoder_unmatched_address_succeeds_without_response(geocoder):
    entity = GeocodeEntity(id="x", geocode_request=GeocodeRequest(query="xyzzy plugh"))
    geocoder.process(entity)
    assert (entity.status_code, entity.responses, entity.fault_reason) == ("Success", [], None)


@pytest.mark.parametrize(
    ("entity", "reason"),
    [
        (
            GeocodeEntity(
                id="1",
                geocode_request=GeocodeRequest(
                    culture="en-US", query="", address=Address(address_line="", admin_district="")
                ),
            ),
            FAULT_NO_ADDRESS,
        ),
        (GeocodeEntity(id="2", geocode_request=GeocodeRequest(culture="en-gb")), FAULT_NO_ADDRESS),
        (GeocodeEntity(id="3"), FAULT_NO_ADDRESS),
        (
            GeocodeEntity(
                id="4",
                geocode_request=GeocodeRequest(
                    address=Address(formatted_address="1 Microsoft Way, Redmond, WA")
                ),
            ),
            FAULT_FORMATTED_ADDRESS,
        ),
    ],
)
def test_geocoder_fails_entities_like_the_service(geocoder, entity, reason):
    geocoder.process(entity)
    assert (entity.status_code, entity.fault_reason, entity.responses) == ("BadRequest", reason, [])


@pytest.mark.parametrize(
    ("lat", "lon", "words"),
    [
        ("abc", "1", "not a valid number"),
        ("95", "1", "out of range"),
        ("1", "-181", "out of range"),
        (None, "1", "must specify both"),
    ],
)
def test_geocoder_rejects_bad_coordinates(geocoder, lat, lon, words):
    entity = GeocodeEntity(
        id="r", reverse_geocode_request=ReverseGeocodeRequest(latitude=lat, longitude=lon)
    )
    geocoder.process(entity)
    assert entity.status_code == "BadRequest"
    assert words in entity.fault_reason


def test_geocoder_is_deterministic(geocoder):
    def run():
        return [
            geocoder.forward(GeocodeRequest(query=q, max_results=3))
            for q in ("Springfield", "Redmond", "98052", "Paris, France")
        ]

    assert run() == run()


def test_geocoder_answers_a_thousand_varied_entities(geocoder):
    # Speed belongs in `make bench`, not in a timed unit test on a shared machine.
    answered = 0
    for i in range(500):
        answered += bool(
            geocoder.forward(GeocodeRequest(query=f"{i} Main St, Springfield, IL 6270{i % 10}"))
        )
        answered += bool(
            geocoder.reverse(
                ReverseGeocodeRequest(latitude=str(30 + i * 0.02), longitude=str(-100 + i * 0.03))
            )
        )
    assert answered >= 900


def test_geocoder_strict_match_keeps_results_inside_the_given_country(geocoder):
    request = GeocodeRequest(
        query="Paris", address=Address(country_region="France"), strict_match=True, max_results=5
    )
    responses = geocoder.forward(request)
    assert responses and {r.address.country_region for r in responses} == {"France"}
