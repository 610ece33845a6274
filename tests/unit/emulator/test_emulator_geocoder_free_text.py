"""The geocoder's free-text search: the same answers as trying every run of words, in linear work.

``ExhaustiveGeocoder`` is the search as it was (every run, longest first: O(words³)); the
geocoder must answer exactly as it does, and do a bounded number of lookups per word.
"""

import random
import time

import pytest
from geocode_dataflow.schema.model import GeocodeEntity, GeocodeRequest
from offline_geocoder import Geocoder, get_gazetteer
from offline_geocoder.geocoder import MAX_QUERY_CHARACTERS, _Components

FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()

CORPUS = [
    "1 Microsoft Way, Redmond, WA 98052",
    "1 Rue de Rivoli, Paris",
    "10 Downing St, London",
    "1600 Pennsylvania Ave NW, Washington, DC",
    "221B Baker St, London",
    "233 S Wacker Dr, Chicago, IL 60606",
    "350 5th Ave, New York, NY",
    "98052",
    "Austin, TX",
    "Capitol Hill, Seattle",
    "Denver, CO",
    "France",
    "Kings Road",
    "Kings Road, Brighton",
    "Main St, Springfield, IL",
    "Pike Place Market, Seattle",
    "Plugh Road, Elsewhere",
    "Portland Art Museum",
    "Qwerty Close, Atlantis",
    "Seattle Space Needle",
    "Space Needle",
    "Springfield",
    "xyzzy plugh",
    "Nowhere at all",
    "Qwxzv Nowhere Plkj",
    "the old harbour near San Francisco bay",
    "hotel - New York - downtown",
    "- - Paris - -",
    "tab\there\nnew\r\nline ünïcödé 東京 🙂",
    "Москва центр",
    "visit St.-Louis & Kansas City soon",
    "São Paulo airport terminal",
    "Rio de Janeiro beach front",
    "big apple & new york & jersey",
    "km 12 ruta 5 hacia Ciudad del Este",
    "— & —",
]

# Words for random queries: place names of one to several words, words that fold to nothing,
# words that fold to several words, accents, and filler.
VOCABULARY = [
    "Paris",
    "New",
    "York",
    "San",
    "Francisco",
    "Rio",
    "de",
    "Janeiro",
    "Kansas",
    "City",
    "St.-Louis",
    "São",
    "Paulo",
    "Sankt",
    "Peter",
    "in",
    "der",
    "Au",
    "-",
    "&",
    "—",
    "Москва",
    "東京",
    "a",
    "ab",
    "near",
    "hotel",
    "the",
    "xq",
    "12",
    "Main",
    "St",
    *FILLER,
]


class ExhaustiveGeocoder(Geocoder):
    """The free-text search before it was bounded: every run of words, longest first."""

    def _parse_free_text(self, text: str) -> _Components:
        gaz = self.gazetteer
        if gaz.places_named(text):
            return _Components(locality=text)
        words = text.replace(",", " ").split()
        for size in range(len(words) - 1, 0, -1):
            for start in range(0, len(words) - size + 1):
                candidate = " ".join(words[start : start + size])
                if len(candidate) > 2 and gaz.places_named(candidate):
                    return _Components(locality=candidate, fuzzy=True)
        return _Components(address_line=text)


class CountingGazetteer:
    """The real gazetteer, counting name lookups."""

    def __init__(self, real) -> None:
        self._real = real
        self.lookups = 0

    def places_named(self, *args, **kwargs):
        self.lookups += 1
        return self._real.places_named(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture(scope="module")
def geocoders():
    gazetteer = get_gazetteer()
    return Geocoder(gazetteer), ExhaustiveGeocoder(gazetteer)


def _answers(geocoder: Geocoder, query: str) -> list:
    entity = GeocodeEntity(
        id="1", geocode_request=GeocodeRequest(query=query, include_query_parse=True)
    )
    geocoder.process(entity)
    return [entity.status_code, entity.fault_reason, entity.responses]


def test_geocoder_answers_the_corpus_as_the_exhaustive_search_did(geocoders):
    bounded, exhaustive = geocoders
    for query in CORPUS:
        assert bounded.parse_query(query) == exhaustive.parse_query(query), query
        assert _answers(bounded, query) == _answers(exhaustive, query), query


def test_geocoder_free_text_finds_the_run_the_exhaustive_search_finds(geocoders):
    bounded, exhaustive = geocoders
    draw = random.Random(20240611)
    for _ in range(1500):
        words = [draw.choice(VOCABULARY) for _ in range(draw.randint(1, 12))]
        text = " ".join(words)
        # Called directly: a structured-looking query would be answered before the search.
        assert bounded._parse_free_text(text) == exhaustive._parse_free_text(text), text


@pytest.mark.parametrize("words", [800, 10_000])
def test_geocoder_free_text_lookups_grow_linearly(words):
    gazetteer = CountingGazetteer(get_gazetteer())
    text = " ".join(FILLER[i % len(FILLER)] for i in range(words))
    started = time.monotonic()
    parsed = Geocoder(gazetteer).parse_query(text)
    elapsed = time.monotonic() - started
    assert parsed.fuzzy  # the free-text search ran, and found a place among the words
    # Every run up to the longest place name from each word, plus the stretches between:
    # 800 words took 320,000 lookups (69 s) when every run was tried.
    assert words < gazetteer.lookups <= (gazetteer.longest_name_words + 2) * (words + 2)
    assert elapsed < 10, f"{words} words took {elapsed:.1f} s"  # generous: a shared machine


def test_geocoder_refuses_a_query_over_the_length_cap(geocoders):
    bounded, _ = geocoders
    longest = "Paris " + "x" * (MAX_QUERY_CHARACTERS - len("Paris "))
    assert _answers(bounded, longest)[0] == "Success"
    status, fault, responses = _answers(bounded, longest + "x")
    assert (status, responses) == ("BadRequest", [])
    assert f"at most {MAX_QUERY_CHARACTERS:,}" in fault
    huge = " ".join(FILLER[i % len(FILLER)] for i in range(10_000))
    started = time.monotonic()
    assert _answers(bounded, huge)[0] == "BadRequest"
    assert time.monotonic() - started < 5
