"""The embedded geocoder abroad: places by their names in any language or script, postal codes
outside the US, homonyms told apart by country, division and postal code, city districts in
reverse geocoding, and precision stated honestly (locality and postal-code centroids only)."""

import pytest
from geocode_dataflow.schema.model import Address, GeocodeRequest, ReverseGeocodeRequest
from offline_geocoder import Geocoder, distance_km, fold


@pytest.fixture(scope="module")
def geocoder():
    return Geocoder()


def best(geocoder, query=None, **address):
    request = GeocodeRequest(query=query, address=Address(**address) if address else None)
    responses = geocoder.forward(request)
    assert responses, f"no answer for {query or address}"
    first = responses[0]
    # Honest precision, whatever the answer: a centroid, never an address point.
    assert first.entity_type != "Address"
    assert all(p.calculation_method != "Rooftop" for p in first.geocode_points)
    return first


def km(response, lat, lon):
    return distance_km(float(response.point.latitude), float(response.point.longitude), lat, lon)


@pytest.mark.parametrize(
    ("query", "locality", "country", "lat", "lon"),
    [
        ("München", "Munich", "Germany", 48.137, 11.575),
        ("東京", "Tokyo", "Japan", 35.690, 139.692),
        ("Roma", "Rome", "Italy", 41.893, 12.483),
        ("Ciudad de México", "Mexico City", "Mexico", 19.433, -99.133),
        ("Köln", "Köln", "Germany", 50.938, 6.960),
        ("Москва", "Moscow", "Russia", 55.756, 37.617),
        ("Αθήνα", "Athens", "Greece", 37.984, 23.728),
        ("Wien", "Vienna", "Austria", 48.208, 16.374),
    ],
)
def test_world_geocoder_knows_places_by_native_names_and_scripts(
    geocoder, query, locality, country, lat, lon
):
    found = best(geocoder, query)
    assert (found.entity_type, found.confidence) == ("PopulatedPlace", "High")
    assert (found.address.locality, found.address.country_region) == (locality, country)
    assert km(found, lat, lon) < 10


def test_world_geocoder_names_the_division_abroad(geocoder):
    munich = best(geocoder, "München")
    assert munich.address.admin_district == "Bayern"
    assert best(geocoder, "東京").address.admin_district == "Tokyo"


@pytest.mark.parametrize(
    ("query", "country", "admin_district"),
    [
        ("Paris, Texas", "United States", "TX"),
        ("Paris, France", "France", "Île-de-France"),
        ("Cambridge, MA", "United States", "MA"),
        ("Cambridge, UK", "United Kingdom", "England"),
        ("London, Ontario", "Canada", "Ontario"),
        ("Hamilton, New Zealand", "New Zealand", "Waikato"),
        ("León, Guanajuato", "Mexico", "Guanajuato"),
        ("Perth, WA", "Australia", "Western Australia"),  # WA names no Perth in the US
        ("Spokane, WA", "United States", "WA"),
        ("Córdoba, España", "Spain", "Andalucía"),  # the country in its own language
        ("Tokio, Japón", "Japan", "Tokyo"),
    ],
)
def test_world_geocoder_picks_among_homonyms_by_country_and_division(
    geocoder, query, country, admin_district
):
    found = best(geocoder, query)
    assert found.entity_type == "PopulatedPlace"
    assert (found.address.country_region, found.address.admin_district) == (
        country,
        admin_district,
    )
    assert found.confidence == "High"
    assert "Ambiguous" not in found.match_codes


def test_world_geocoder_an_unnamed_homonym_is_ambiguous(geocoder):
    responses = geocoder.forward(GeocodeRequest(query="Cambridge", max_results=5))
    assert {r.address.country_region for r in responses} >= {"United Kingdom", "United States"}
    assert responses[0].confidence == "Medium"
    assert all("Ambiguous" in r.match_codes for r in responses)


def test_world_geocoder_own_names_outweigh_other_languages_names(geocoder):
    # Parys (South Africa) is also called "Paris"; Paris, Texas bears the name itself.
    responses = geocoder.forward(GeocodeRequest(query="Paris", max_results=2))
    assert [r.name for r in responses] == ["Paris, France", "Paris, TX"]


@pytest.mark.parametrize(
    ("query", "entity_type", "name"),
    [
        ("Mexico", "CountryRegion", "Mexico"),  # not Mexico City, whose Spanish name it is
        ("Luxembourg", "PopulatedPlace", "Luxembourg, Luxembourg"),  # the city's own name
        ("Deutschland", "CountryRegion", "Germany"),
        ("Salvador", "PopulatedPlace", "Salvador, Brazil"),  # only in Portuguese a country
        ("New York", "PopulatedPlace", "New York City, NY"),  # a metropolis before the state
        ("Washington", "AdminDivision1", "Washington, United States"),
    ],
)
def test_world_geocoder_country_state_or_city_of_the_same_name(geocoder, query, entity_type, name):
    found = best(geocoder, query)
    assert (found.entity_type, found.name) == (entity_type, name)


@pytest.mark.parametrize(
    ("query", "address", "locality", "country"),
    [
        ("Amsterdam 1012 JS", {}, "Amsterdam", "The Netherlands"),
        ("1012 JS, Netherlands", {}, "Amsterdam", "The Netherlands"),
        ("10115, Germany", {}, "Berlin", "Germany"),
        ("75001 Paris", {}, "Paris", "France"),  # 75001 is also a US ZIP, of Addison TX
        (None, {"locality": "Paris", "postal_code": "75001"}, "Paris", "France"),
        (None, {"postal_code": "10115", "country_region": "DE"}, "Berlin", "Germany"),
    ],
)
def test_world_geocoder_postal_codes_without_a_centroid_answer_their_locality(
    geocoder, query, address, locality, country
):
    found = best(geocoder, query, **address)
    # The data gives these codes a locality and no point: the locality's centroid, coarser
    # than the postal code asked for.
    assert (found.entity_type, found.confidence) == ("PopulatedPlace", "High")
    assert "UpHierarchy" in found.match_codes
    assert (found.address.locality, found.address.country_region) == (locality, country)
    assert found.address.postal_code is None


def test_world_geocoder_a_postal_code_tells_homonyms_apart(geocoder):
    # 15230 is Frankfurt (Oder); Frankfurt alone is Frankfurt am Main.
    assert best(geocoder, "Frankfurt").address.admin_district == "Hessen"
    oder = best(geocoder, "Frankfurt 15230")
    assert (oder.address.locality, oder.address.admin_district) == (
        "Frankfurt (Oder)",
        "Brandenburg",
    )
    assert oder.confidence == "High"


def test_world_geocoder_postal_codes_with_a_centroid_answer_postcode1(geocoder):
    found = best(geocoder, "00-001 Warszawa")
    assert (found.entity_type, found.confidence, found.match_codes) == ("Postcode1", "High", "Good")
    assert (found.address.postal_code, found.address.locality) == ("00-001", "Warsaw")
    assert km(found, 52.2297, 21.0122) < 3


def test_world_geocoder_a_coarser_postal_code_says_so(geocoder):
    # The data knows the UK's postcode areas only: SW, not SW1A 1AA.
    found = best(geocoder, "SW1A 1AA, United Kingdom")
    assert (found.entity_type, found.confidence) == ("Postcode1", "Medium")
    assert "UpHierarchy" in found.match_codes
    assert found.address.postal_code == "SW"
    assert km(found, 51.5014, -0.1419) < 15
    # Beside its town, the area only confirms the town, whose centre is nearer.
    london = best(geocoder, "London SW1A 1AA")
    assert (london.entity_type, london.confidence) == ("PopulatedPlace", "High")
    assert (london.address.locality, london.address.postal_code) == ("London", None)


def test_world_geocoder_an_unknown_postal_code_caps_confidence(geocoder):
    found = best(geocoder, "Amsterdam 99999")
    assert (found.address.locality, found.confidence) == ("Amsterdam", "Medium")


def test_world_geocoder_us_zip_beside_its_town_stays_american(geocoder):
    found = best(geocoder, "Paris 75460")
    assert (found.entity_type, found.address.admin_district) == ("Postcode1", "TX")


def test_world_geocoder_reverse_names_the_city_not_its_district(geocoder):
    # GeoNames lists Toronto's "Bay Street Corridor" as a place of its own, beside City Hall.
    request = ReverseGeocodeRequest(latitude="43.6532", longitude="-79.3832", max_results=5)
    plain = geocoder.reverse(request)
    assert (plain[0].entity_type, plain[0].address.locality) == ("PopulatedPlace", "Toronto")
    assert plain[0].address.admin_district == "Ontario"
    assert plain[0].address.neighborhood is None
    request.include_neighborhood = True
    assert geocoder.reverse(request)[0].address.neighborhood == "Bay Street Corridor"


def test_world_geocoder_reverse_keeps_a_neighbouring_city(geocoder):
    # Cambridge is a city beside Boston, not a district of it.
    [place] = geocoder.reverse(
        ReverseGeocodeRequest(
            latitude="42.3736", longitude="-71.1097", include_entity_types="PopulatedPlace"
        )
    )
    assert place.name == "Cambridge, MA"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("München", "munchen"),
        ("İstanbul", "istanbul"),
        ("東京", "東京"),
        ("Санкт-Петербург", "санкт петербург"),
        ("St.-Louis & Kansas", "st louis kansas"),
    ],
)
def test_world_geocoder_fold_keeps_every_script(text, folded):
    assert fold(text) == folded


def test_world_geocoder_free_text_in_another_script(geocoder):
    found = best(geocoder, "Москва центр")
    assert (found.address.locality, found.confidence) == ("Moscow", "Medium")
    assert "UpHierarchy" in found.match_codes


def test_world_geocoder_a_postal_code_alone_in_one_countrys_format(geocoder):
    amsterdam = best(geocoder, "1012 JS")  # only the Netherlands writes codes so
    assert (amsterdam.address.locality, amsterdam.address.country_region) == (
        "Amsterdam",
        "The Netherlands",
    )
    assert best(geocoder, "98052").address.locality == "Redmond"  # digits alone: a US ZIP


@pytest.mark.parametrize(
    ("query", "address_line", "locality", "postal_code"),
    [
        ("Hauptstraße 5, 10115 Berlin, Deutschland", "Hauptstraße 5", "Berlin", "10115"),
        ("Damrak 1, 1012 JS Amsterdam", "Damrak 1", "Amsterdam", "1012 JS"),
        ("1012 JS, Amsterdam", None, "Amsterdam", "1012 JS"),
        ("1600 Pennsylvania Ave, Paris", "1600 Pennsylvania Ave", "Paris", None),  # a number
    ],
)
def test_world_geocoder_parses_postal_codes_beside_the_place(
    geocoder, query, address_line, locality, postal_code
):
    parsed = geocoder.parse_query(query)
    assert (parsed.address_line, parsed.locality, parsed.postal_code) == (
        address_line,
        locality,
        postal_code,
    )
    found = best(geocoder, query)
    assert found.address.locality == locality
    assert "UpHierarchy" in found.match_codes  # a street or postal code asked, a town answered
