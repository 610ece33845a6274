"""Postal codes outside the US: coarser codes tried in order, each country read on first use."""

import pytest
from offline_geocoder.postcodes import WorldPostcodes, broader_codes, normalise


@pytest.mark.parametrize(
    ("code", "codes"),
    [
        ("1012 JS", ["1012JS", "1012"]),
        ("sw1a 1aa", ["SW1A1AA", "SW1A", "SW"]),
        ("K1A 0B1", ["K1A0B1", "K1A", "K"]),
        ("100-0005", ["1000005"]),
        ("10115", ["10115"]),
    ],
)
def test_postcodes_broader_codes_finest_first(code, codes):
    assert broader_codes(code) == codes


def test_postcodes_normalise_ignores_spaces_hyphens_and_case():
    assert normalise(" 00-001 ") == normalise("00001") == "00001"
    assert normalise("sw1a 1aa") == "SW1A1AA"


def test_postcodes_read_per_country_on_first_use():
    postcodes = WorldPostcodes()
    [amsterdam] = postcodes.lookup("NL", "1012 JS")  # the district: the data has no 1012 JS
    assert (amsterdam.code, amsterdam.locality, amsterdam.division) == ("1012", "Amsterdam", "NH")
    assert not amsterdam.has_point
    assert set(postcodes._by_country) == {"NL"}  # nothing else was read
    [warsaw] = postcodes.lookup("PL", "00-001")
    assert warsaw.has_point and warsaw.locality == "Warszawa"


@pytest.mark.parametrize(("country", "code"), [("NL", "0000"), ("ZZ", "1012"), ("nl", "1012")])
def test_postcodes_unknown_codes_and_countries_find_nothing(country, code):
    assert WorldPostcodes().lookup(country, code) == []


def test_postcodes_a_code_out_of_the_countrys_format_reads_nothing():
    postcodes = WorldPostcodes()
    assert postcodes.lookup("PT", "1012 JS") == []  # Portugal writes 1000-001
    assert postcodes.lookup("JP", "75001") == []
    assert postcodes._by_country == {}  # the big files were left unread
    assert postcodes.lookup("PL", "00001")  # written without its hyphen: still the format


def test_postcodes_countries_holding_a_code_given_alone():
    postcodes = WorldPostcodes()
    assert postcodes.countries_holding("1012 JS") == ["NL"]
    assert postcodes.countries_holding("SW1A 1AA") == ["GB"]  # GG, JE and IM share the format
    assert postcodes.countries_holding("75001") == []  # digits alone: too many countries
