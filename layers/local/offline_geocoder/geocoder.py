"""A small, deterministic, offline geocoder with the result vocabulary of the Dataflow service.

It knows US ZIP codes (centroids), populated places of the world by their names in any language
or script (GeoNames), first-level divisions, postal codes of other countries (a centroid where
the data has one, else the locality they belong to), US states and countries. So it answers at
postal-code, locality, state or country level and says so honestly: it is no street-level
geocoder, never claims ``Address`` precision or a ``Rooftop`` point, and marks coarser-than-asked
answers ``UpHierarchy``. Entities the service would refuse get ``BadRequest`` and the service's
words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields

from geocode_dataflow.schema.model import (
    Address,
    BoundingBox,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Point,
    QueryParseValue,
    ReverseGeocodeRequest,
)

from .gazetteer import US, Gazetteer, Place, PostalArea, Region, fold, get_gazetteer
from .postcodes import Postcode
from .postcodes import normalise as normalise_postcode

FAULT_NO_ADDRESS = "To geocode a location, you must specify at least one address field."
FAULT_FORMATTED_ADDRESS = (
    "The Address.FormattedAddress property must not be specified because it is an output-only "
    "property."
)

# Longer queries are refused (BadRequest) before any parsing. The Dataflow documentation states
# no limit (Amazon Location's is 200 characters; Bing's REST Locations API carries the query in
# a URL): this is far above any real address, and keeps one entity from occupying a worker.
MAX_QUERY_CHARACTERS = 2048

CONFIDENCES = ("Low", "Medium", "High")
_RANK = {c.casefold(): i for i, c in enumerate(CONFIDENCES)}

# Entity types from the finest to the coarsest that this geocoder can produce.
POSTCODE, PLACE, STATE, COUNTRY = "Postcode1", "PopulatedPlace", "AdminDivision1", "CountryRegion"
_LEVEL = {"address": 0, POSTCODE: 1, PLACE: 2, STATE: 3, COUNTRY: 4}

# An area-derived point (a centroid or a place's reference point) is an estimate, not a measured
# address point: "Interpolation" is the honest member of the service's vocabulary for it.
CALCULATION_METHOD = "Interpolation"

# Two candidates are a tie when the smaller has at least this share of the larger's population.
_TIE_RATIO = 0.2
_REVERSE_NEAR_KM = 40.0  # look here first: a town nearby beats a distant city
_REVERSE_SEARCH_KM = 150.0  # beyond this, no populated place is "here"
# A query that is a US state's name means the state, unless a place this big bears the name
# ("New York" is the city to anyone who types it alone; "Washington" stays the state).
_METROPOLIS = 1_000_000
# Same-named places weighed against a postal code or division: the few most populous.
_CONTEXT_CANDIDATES = 10
# A place at most this share of a place's radius from it and this many times smaller is a
# section of it (a city district), not a town of its own.
_SECTION_SHARE = 0.35
_SECTION_RATIO = 10
_POSTCODE_RADIUS_KM = 3.0  # the box drawn around a postal-code centroid abroad

# A postal code written before or after a place name, in the common formats of the world:
# digits with an optional second group or two letters (10115, 100-0005, 114 55, 00-001,
# 1012 JS), UK postcodes (SW1A 1AA) and Canadian ones (K1A 0B1).
_POSTAL = (
    r"\d{3,6}(?:[ -]\d{2,4})?(?:\s?[A-Za-z]{2})?"
    r"|\d{2}-\d{3}"
    r"|[A-Za-z]{1,2}\d[A-Za-z\d]?\s?\d[A-Za-z]{2}"
    r"|[A-Za-z]\d[A-Za-z]\s?\d[A-Za-z]\d"
)
_POSTAL_ONLY = re.compile(rf"(?:{_POSTAL})")
_POSTAL_FIRST = re.compile(rf"(?P<code>{_POSTAL})\s+(?P<name>\D.*)")
_POSTAL_LAST = re.compile(rf"(?P<name>.*\D)\s+(?P<code>{_POSTAL})")

_STREET_LABELS = {
    "AddressNumberPrefix",
    "AddressNumber",
    "AddressNumberSuffix",
    "StreetNamePreModifier",
    "StreetNamePreDirectional",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
    "SubaddressType",
    "SubaddressIdentifier",
    "BuildingName",
    "OccupancyType",
    "OccupancyIdentifier",
    "CornerOf",
    "LandmarkName",
    "IntersectionSeparator",
    "USPSBoxType",
    "USPSBoxID",
    "USPSBoxGroupType",
    "USPSBoxGroupID",
}


class EntityFaultError(Exception):
    """The service would fail this entity with StatusCode BadRequest and this FaultReason."""


@dataclass
class _Components:
    address_line: str | None = None
    locality: str | None = None
    admin_district: str | None = None
    postal_code: str | None = None
    country_region: str | None = None
    fuzzy: bool = False  # the locality was picked out of a longer free-form text

    def parse_values(self) -> list[QueryParseValue]:
        pairs = [
            ("AddressLine", self.address_line),
            ("Locality", self.locality),
            ("AdminDistrict", self.admin_district),
            ("PostalCode", self.postal_code),
            ("CountryRegion", self.country_region),
        ]
        return [QueryParseValue(prop, value) for prop, value in pairs if value]

    def finest_level(self) -> int:
        if self.address_line:
            return _LEVEL["address"]
        if self.postal_code:
            return _LEVEL[POSTCODE]
        if self.locality:
            return _LEVEL[PLACE]
        if self.admin_district:
            return _LEVEL[STATE]
        return _LEVEL[COUNTRY]


@dataclass
class _Match:
    entity_type: str
    latitude: float
    longitude: float
    bbox: tuple[float, float, float, float]  # south, west, north, east
    address: Address
    confidence: str = "High"
    codes: set[str] = field(default_factory=set)

    def to_response(self, parse_values: list[QueryParseValue]) -> GeocodeResponse:
        lat, lon = _num(self.latitude), _num(self.longitude)
        codes = set(self.codes) or {"Good"}
        return GeocodeResponse(
            name=self.address.formatted_address,
            entity_type=self.entity_type,
            confidence=self.confidence,
            match_codes=", ".join(sorted(codes)),
            address=self.address,
            geocode_points=[GeocodePoint(lat, lon, CALCULATION_METHOD, "Point", "Display")],
            query_parse_values=list(parse_values),
            bounding_box=BoundingBox(*(_num(v) for v in self.bbox)),
            point=Point(lat, lon),
        )


class Geocoder:
    """Forward and reverse geocoding of Data Schema v2.0 entities."""

    def __init__(self, gazetteer: Gazetteer | None = None, *, min_population: int = 15000) -> None:
        self._gazetteer = gazetteer
        self._min_population = min_population
        self._zip_radius: dict[str, float] = {}

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = get_gazetteer(self._min_population)
        return self._gazetteer

    # -- entities ----------------------------------------------------------------------------------

    def process(self, entity: GeocodeEntity, *, query_parse_default: bool = False) -> GeocodeEntity:
        """Fill ``responses``, ``status_code`` and ``fault_reason`` of ``entity`` (in place).

        ``query_parse_default``: whether query parse values are returned when the request does
        not say (text formats cannot say; the service returns them there).
        """
        entity.responses = []
        entity.fault_reason = None
        try:
            if entity.reverse_geocode_request is not None:
                entity.responses = self.reverse(entity.reverse_geocode_request)
            elif entity.geocode_request is not None:
                entity.responses = self.forward(
                    entity.geocode_request, query_parse_default=query_parse_default
                )
            else:
                raise EntityFaultError(FAULT_NO_ADDRESS)
        except EntityFaultError as fault:
            entity.status_code = "BadRequest"
            entity.fault_reason = str(fault)
        else:
            entity.status_code = "Success"
        return entity

    # -- forward -----------------------------------------------------------------------------------

    def forward(
        self, request: GeocodeRequest, *, query_parse_default: bool = False
    ) -> list[GeocodeResponse]:
        address = request.address or Address()
        if _blank(address.formatted_address) is not None:
            raise EntityFaultError(FAULT_FORMATTED_ADDRESS)
        minimum = _minimum_confidence(request.min_confidence)
        query = _blank(request.query)
        if query is not None and len(query) > MAX_QUERY_CHARACTERS:
            raise EntityFaultError(
                f"The Query value is {len(query):,} characters long; at most "
                f"{MAX_QUERY_CHARACTERS:,} are accepted."
            )
        given = _Components(
            address_line=_blank(address.address_line),
            locality=_blank(address.locality) or _blank(address.postal_town),
            admin_district=_blank(address.admin_district),
            postal_code=_blank(address.postal_code),
            country_region=_blank(address.country_region),
        )
        if query is None and all(_blank(getattr(address, f.name)) is None for f in fields(address)):
            raise EntityFaultError(FAULT_NO_ADDRESS)

        parse_values: list[QueryParseValue] = []
        if query is not None:
            parsed = self.parse_query(query)
            include_parse = request.include_query_parse
            if include_parse is None:
                include_parse = query_parse_default
            if include_parse:
                parse_values = parsed.parse_values()
            for name in (
                "address_line",
                "locality",
                "admin_district",
                "postal_code",
                "country_region",
            ):
                if getattr(given, name) is None:
                    setattr(given, name, getattr(parsed, name))
            given.fuzzy = parsed.fuzzy

        matches = self._match(given)
        if request.strict_match:
            matches = [m for m in matches if self._strictly_within(m, given)]
        matches = [m for m in matches if _RANK[m.confidence.casefold()] >= minimum]
        limit = _max_results(request.max_results)
        return [m.to_response(parse_values) for m in matches[:limit]]

    def parse_query(self, query: str) -> _Components:
        """Split a free-form query into address components (US addresses via ``usaddress``,
        "Place, Country" elsewhere)."""
        gaz = self.gazetteer
        text = " ".join(query.split())
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            return _Components()
        if len(parts) == 1:
            whole = parts[0]
            # A country, unless a place bears the name as its own: in that country when the
            # name is the country's ("Luxembourg"; Mexico, Philippines does not count), anywhere
            # when it is another language's name for it ("Salvador" is in Brazil).
            iso = gaz.country_code(whole)
            within = None if gaz.is_translated_country_name(whole) else iso
            if iso and not gaz.is_own_name(whole, within):
                return _Components(country_region=whole)
            if (
                gaz.state_code(whole)
                and len(whole) > 2
                and not re.search(r"\d", whole)
                and not any(p.population >= _METROPOLIS for p in gaz.places_named(whole))
            ):
                return _Components(admin_district=whole)
        iso = gaz.country_code(parts[-1]) if len(parts) > 1 else None
        state = gaz.state_code(parts[-1])
        if iso and iso != US and state:
            # "Denver, CO" is Colorado, not Colombia; "Toronto, CA" is Canada.
            rest = parts[:-1]
            if any(gaz.places_named(p, US, state) for p in rest) or not any(
                gaz.places_named(p, iso) for p in rest
            ):
                iso = None
        if iso and iso != US:
            return self._parse_foreign(parts[:-1], parts[-1], iso)
        if iso is None and (state is None or not self._names_us_place(parts[:-1], state)):
            # No country named, and no US state, or one that names no US place ("Perth, WA"
            # is in Western Australia).
            abroad = self._parse_abroad(parts, state)
            if abroad is not None:
                return abroad
        country = None
        if iso == US:
            country = parts.pop()
        parsed = self._parse_us(", ".join(parts))
        parsed.country_region = parsed.country_region or country
        return parsed

    def _parse_foreign(self, parts: list[str], country: str, iso: str) -> _Components:
        found = self._parse_place_parts(parts, iso)
        names = [n for n, _ in _names_of(parts) if n]
        if found.locality is None and names:
            found.locality = names[-1]
            found.address_line = ", ".join(names[:-1]) or None
        found.country_region = country
        return found

    def _names_us_place(self, parts: list[str], state: str) -> bool:
        gaz = self.gazetteer
        return any(
            gaz.places_named(name, US, state) or gaz.postal_areas_of_city(name, state)
            for name, _ in _names_of(parts)
            if name
        )

    def _parse_abroad(self, parts: list[str], state: str | None) -> _Components | None:
        """A query that names no country but a place best taken to be abroad ("München",
        "Amsterdam 1012 JS", "75001 Paris", "London, Ontario", "Perth, WA" whose ``state``
        names no US place); None when the place it names is best taken to be in the US, or it
        names none: the US parser reads those."""
        gaz = self.gazetteer
        found = self._parse_place_parts(parts, None)
        if found.locality is None:
            # A postal code alone ("1012 JS"), answered if one country's data holds it.
            alone = len(parts) == 1 and _split_postal(parts[0])[0] is None
            return found if alone and state is None else None
        if state is None and any(gaz.state_code(name) for name, _ in _names_of(parts)):
            return None  # "Redmond, WA 98052": a US address
        if state is not None and not (
            found.admin_district
            and self._within_division(found.locality, found.admin_district, None)
        ):
            return None  # "Foo, WA" names no place in a division abroad called WA
        ranked = self._in_context(gaz.places_named(found.locality), found)[0]
        if not ranked or ranked[0].country_code == US:
            return None
        return found

    def _parse_place_parts(self, parts: list[str], iso: str | None) -> _Components:
        """Locality, postal code, division and address line of comma-separated ``parts``, the
        locality being the last part that names a place (in ``iso`` if given), unless that is
        the division of the part before it ("León, Guanajuato"); only the postal code when no
        part names a place."""
        gaz = self.gazetteer
        split = _names_of(parts)
        names = [name for name, _ in split]
        # A part that is nothing but a postal code, wherever it stands.
        alone = next((code for name, code in reversed(split) if name is None), None)
        for index in range(len(parts) - 1, -1, -1):
            if not names[index] or not gaz.places_named(names[index], iso):
                continue
            if (
                index > 0
                and names[index - 1]
                and self._within_division(names[index - 1], names[index], iso)
            ):
                index -= 1
            # Beside the place or after it; before it, "1600" is a house number.
            beside = next((code for _, code in split[index:] if code), None)
            return _Components(
                address_line=", ".join(parts[i] for i in range(index) if names[i]) or None,
                locality=names[index],
                admin_district=", ".join(n for n in names[index + 1 :] if n) or None,
                postal_code=beside or alone,
            )
        return _Components(postal_code=alone)

    def _within_division(
        self, place: str, division: str, iso: str | None, *, abroad: bool = False
    ) -> bool:
        """Whether a place called ``place`` lies in a first-level division called ``division``
        (outside the US if ``abroad``)."""
        gaz = self.gazetteer
        inside = {
            (d.country_code, d.code)
            for d in gaz.divisions_named(division, iso)
            if not (abroad and d.country_code == US)
        }
        return any((p.country_code, p.admin1_code) in inside for p in gaz.places_named(place, iso))

    def _parse_us(self, text: str) -> _Components:
        import usaddress  # local-only dependency; imported on first use

        try:
            tagged, _ = usaddress.tag(text)
            labels = list(tagged.items())
        except usaddress.RepeatedLabelError as exc:
            labels = [(label, token) for token, label in exc.parsed_string]
        street = " ".join(v for k, v in labels if k in _STREET_LABELS).strip(" ,") or None
        found = _Components(address_line=street)
        for label, value in labels:
            value = value.strip(" ,")
            if label == "PlaceName" and found.locality is None:
                found.locality = value
            elif label == "StateName" and found.admin_district is None:
                found.admin_district = value
            elif label == "ZipCode" and found.postal_code is None:
                found.postal_code = value
            elif label == "CountryName" and found.country_region is None:
                found.country_region = value
        if any((found.locality, found.admin_district, found.postal_code)):
            return found
        if street and re.match(r"\d", street):
            return found  # a street address and nothing else: no locality to find
        return self._parse_free_text(text)

    def _parse_free_text(self, text: str) -> _Components:
        """A query with no recognisable structure: look for the longest run of words that names
        a place ("Seattle Space Needle" -> Seattle)."""
        gaz = self.gazetteer
        if gaz.places_named(text):
            return _Components(locality=text)
        run = _longest_place_run(gaz, text.replace(",", " ").split())
        if run is not None:
            return _Components(locality=run, fuzzy=True)
        return _Components(address_line=text)

    # -- matching ----------------------------------------------------------------------------------

    def _match(self, c: _Components) -> list[_Match]:
        gaz = self.gazetteer
        country = gaz.country_code(c.country_region)
        if c.country_region and country is None:
            return []  # a country we do not know: nothing honest to return
        state = gaz.state_code(c.admin_district) if country in (None, US) else None
        zip_area = gaz.postal_area(c.postal_code) if country in (None, US) else None
        if country is None and zip_area is not None and state is None and c.locality:
            # "75001 Paris": a code that is also a US ZIP, of another town, beside a place that
            # is best taken to be abroad is that place's postal code.
            if not _zip_serves(zip_area, c.locality):
                ranked = self._in_context(gaz.places_named(c.locality), c)[0]
                if ranked and ranked[0].country_code != US:
                    zip_area = None
        if country is None and state is not None and c.locality and c.admin_district:
            # "Perth, WA": a US state's code that is also a division abroad, with a place in
            # it and no place of that name in the state.
            if not self._names_us_place([c.locality], state) and self._within_division(
                c.locality, c.admin_district, None, abroad=True
            ):
                state = None
        if country is None and (state or zip_area):
            country = US
        if country == US:
            matches = self._match_us(c, state, zip_area)
        elif country is not None:
            matches = self._match_country(c, country)
        else:
            matches = self._match_world(c)
        finest = c.finest_level()
        for match in matches:
            # Coarser than the finest part asked for, or found in a longer free-form text.
            if _LEVEL[match.entity_type] > finest or c.fuzzy:
                match.codes.add("UpHierarchy")
        return matches

    def _match_us(
        self, c: _Components, state: str | None, zip_area: PostalArea | None
    ) -> list[_Match]:
        gaz = self.gazetteer
        unknown_state = c.admin_district is not None and state is None
        unknown_zip = c.postal_code is not None and zip_area is None
        if zip_area is not None:
            city_ok = c.locality is None or fold(c.locality) in {
                fold(zip_area.city),
                *(fold(x) for x in zip_area.other_cities),
            }
            state_ok = state is None or state == zip_area.state
            match = self._postcode_match(zip_area)
            if not (city_ok and state_ok) or unknown_state:
                match.confidence = "Low"
            elif c.fuzzy:
                match.confidence = "Medium"
            matches = [match]
            if not city_ok:
                # The locality names another place: offer it too, and say the answer is a tie.
                others = self._us_places(c.locality, state)
                for other in others[:1]:
                    other.confidence = "Low"
                    matches.append(other)
                if others:
                    for m in matches:
                        m.codes.add("Ambiguous")
            return matches
        if c.locality:
            matches = self._us_places(c.locality, state)
            if matches:
                if unknown_state or unknown_zip or c.fuzzy:
                    matches[0].confidence = "Medium"
                return matches
        if state:
            match = self._region_match(gaz.states[state], STATE, state=state)
            if c.locality or unknown_zip:
                match.confidence = "Medium"  # the finer part of the request was not found
            return [match]
        if c.locality or c.postal_code or c.admin_district:
            return []
        return [self._region_match(gaz.countries[US], COUNTRY)] if US in gaz.countries else []

    def _us_places(self, locality: str | None, state: str | None) -> list[_Match]:
        """US populated places with this name (within ``state`` when given), best first."""
        gaz = self.gazetteer
        places = gaz.places_named(locality, US, state)
        if places:
            return self._place_matches(places, decided=state is not None, name=locality)
        if state:
            areas = gaz.postal_areas_of_city(locality, state)
            if areas:
                return [self._place_from_postal_areas(areas)]
        return []

    def _match_country(self, c: _Components, country: str) -> list[_Match]:
        gaz = self.gazetteer
        if c.locality:
            places = gaz.places_named(c.locality, country)
            if places:
                return self._context_matches(places, c)
        if c.postal_code:
            matches = self._postcode_matches(country, c)
            if matches:
                return matches
        region = gaz.countries.get(country)
        if region is None:
            return []
        match = self._region_match(region, COUNTRY)
        if c.locality or c.admin_district or c.postal_code:
            match.confidence = "Medium"
        return [match]

    def _match_world(self, c: _Components) -> list[_Match]:
        gaz = self.gazetteer
        if c.locality:
            places = gaz.places_named(c.locality)
            if places:
                return self._context_matches(places, c)
        elif c.postal_code and gaz.postcodes is not None:
            countries = gaz.postcodes.countries_holding(c.postal_code.upper())
            if len(countries) == 1:
                return self._postcode_matches(countries[0], c)
        if c.admin_district:
            iso = self.gazetteer.country_code(c.admin_district)
            if iso in self.gazetteer.countries:
                match = self._region_match(self.gazetteer.countries[iso], COUNTRY)
                match.confidence = "Medium"
                return [match]
        return []

    def _context_matches(self, places: list[Place], c: _Components) -> list[_Match]:
        """Matches for same-named places abroad (or anywhere), picked by the division and postal
        code given with them; confidence capped at Medium when either could not be confirmed."""
        ranked, agreed, decided, postcode = self._in_context(places, c)
        matches = self._place_matches(ranked, decided=decided, name=c.locality)
        if (
            postcode is not None
            and postcode.has_point
            and ranked[0].country_code != US
            and normalise_postcode(postcode.code) == normalise_postcode(c.postal_code or "")
        ):
            # The code itself has a centroid: finer than the locality's. (A coarser code that
            # contains it, such as the UK area SW of SW1A 1AA, only confirms the locality.)
            top = ranked[0]
            matches.insert(0, self._foreign_postcode_match(postcode, top.country_code, top, c))
            for match in matches[1:]:
                match.confidence = "Low"
        unconfirmed = (c.admin_district or c.postal_code) and not agreed
        if unconfirmed or c.fuzzy:
            matches[0].confidence = _at_most(matches[0].confidence, "Medium")
        return matches

    def _in_context(
        self, places: list[Place], c: _Components
    ) -> tuple[list[Place], bool, bool, Postcode | None]:
        """``places`` reordered by what else the request says: those in the named division and
        those the postal code belongs to first. Also whether all of that context agreed with
        the first, whether it singled the first out, and the postal-code record that agreed."""
        if not places:
            return [], False, False, None
        gaz = self.gazetteer
        candidates = places[:_CONTEXT_CANDIDATES]
        keep = candidates
        confirmed = bool(c.admin_district or c.postal_code)
        if c.admin_district:
            inside = {
                (d.country_code, d.code)
                for d in gaz.divisions_named(c.admin_district)
                if d.country_code != US
            }
            state = gaz.state_code(c.admin_district)
            within = [
                p
                for p in candidates
                if (p.country_code, p.admin1_code) in inside
                or (state is not None and p.country_code == US and p.admin1 == state)
                or gaz.country_code(c.admin_district) == p.country_code
            ]
            if within:
                keep = within
            else:
                confirmed = False
        postcode = None
        if c.postal_code:
            served = []
            for place in keep:
                record = self._postcode_of(place, c.postal_code)
                if record is not None:
                    served.append(place)
                    postcode = postcode or record
            if served:
                keep = served
            else:
                confirmed = False
        ranked = keep + [p for p in places if p not in keep]
        return ranked, confirmed, confirmed and len(keep) == 1, postcode

    def _postcode_of(self, place: Place, code: str) -> Postcode | None:
        """The record of ``code`` in ``place``'s country that names ``place`` as its locality,
        or whose centroid lies within it."""
        gaz = self.gazetteer
        if place.country_code == US:
            area = gaz.postal_area(code)
            if area is None or not _zip_serves(area, place.name, place):
                return None
            return Postcode(area.code, area.city, area.state, area.latitude, area.longitude)
        if gaz.postcodes is None:
            return None
        for record in gaz.postcodes.lookup(place.country_code, code):
            if record.locality and place in gaz.places_named(record.locality, place.country_code):
                return record
            if (
                record.has_point
                and _distance(
                    place.latitude, place.longitude, record.latitude or 0.0, record.longitude or 0.0
                )
                <= place.radius_km + _POSTCODE_RADIUS_KM
            ):
                return record
        return None

    def _postcode_matches(self, country: str, c: _Components) -> list[_Match]:
        """A postal code with its country and no locality ("10115, Germany"): its centroid if
        the data has one, else the locality it belongs to (UpHierarchy)."""
        gaz = self.gazetteer
        if gaz.postcodes is None:
            return []
        for record in gaz.postcodes.lookup(country, c.postal_code or ""):
            places = gaz.places_named(record.locality, country) if record.locality else []
            division = [
                p for p in places if (d := gaz.division_of(p)) and d.iso_code == record.division
            ]
            places = division or places
            if record.has_point:
                place = places[0] if places else None
                return [self._foreign_postcode_match(record, country, place, c)]
            if places:
                return self._place_matches(places, decided=True, name=record.locality)
        return []

    def _place_matches(
        self, places: list[Place], *, decided: bool, name: str | None = None
    ) -> list[_Match]:
        """Matches for places called ``name``, the best first; a tie makes them Ambiguous."""
        top = places[0]
        standing = self.gazetteer.standing
        tied = [p for p in places[1:] if standing(p, name) >= _TIE_RATIO * standing(top, name)]
        matches = [self._place_match(p) for p in places[:20]]
        if tied and not decided:
            for index, match in enumerate(matches):
                match.codes.add("Ambiguous")
                match.confidence = "Medium" if index == 0 else "Low"
        else:
            for match in matches[1:]:
                match.confidence = "Low"
        return matches

    def _strictly_within(self, match: _Match, c: _Components) -> bool:
        gaz = self.gazetteer
        country = gaz.country_code(c.country_region)
        if country and fold(match.address.country_region) != fold(gaz.country_names.get(country)):
            return False
        state = gaz.state_code(c.admin_district)
        return not (state and match.address.admin_district not in (None, state))

    # -- reverse -----------------------------------------------------------------------------------

    def reverse(self, request: ReverseGeocodeRequest) -> list[GeocodeResponse]:
        lat = _coordinate(request.latitude, "Latitude", 90.0)
        lon = _coordinate(request.longitude, "Longitude", 180.0)
        minimum = _minimum_confidence(request.min_confidence)
        wanted = {fold(t) for t in (request.include_entity_types or "").split(",") if t.strip()}
        gaz = self.gazetteer

        near = gaz.places_near(lat, lon, _REVERSE_NEAR_KM) or gaz.places_near(
            lat, lon, _REVERSE_SEARCH_KM
        )
        matches: list[_Match] = []
        place: Place | None = None
        if near:
            # A populated place's pull grows with its size: weight the distance by population^¼
            # so that a point at the edge of a town is not given to a bigger neighbour's centre.
            distance, place = min(near, key=_pull)
            section = None
            city = self._city_of(place, near)
            if city is not None:
                section, place = place, city
                distance = _distance(lat, lon, place.latitude, place.longitude)
            place_match = self._place_match(place)
            if section is not None and request.include_neighborhood:
                place_match.address.neighborhood = section.name
            place_match.confidence = _by_distance(distance, place.radius_km, 2.5 * place.radius_km)
            state = place.admin1 if place.country_code == US else None
            area = self._postal_area_for(lat, lon, place) if place.country_code == US else None
            if area is not None:
                zip_match = self._postcode_match(area)
                zip_distance = _distance(lat, lon, area.latitude, area.longitude)
                zip_match.confidence = _by_distance(zip_distance, 4.0, 10.0)
                matches.append(zip_match)
                state = state or area.state
            matches.append(place_match)
            if state in gaz.states:
                matches.append(self._region_match(gaz.states[state], STATE, state=state))
            if place.country_code in gaz.countries:
                matches.append(self._region_match(gaz.countries[place.country_code], COUNTRY))
        if wanted:
            matches = [m for m in matches if fold(m.entity_type) in wanted]
        matches = [m for m in matches if _RANK[m.confidence.casefold()] >= minimum]
        return [m.to_response([]) for m in matches[: _max_results(request.max_results)]]

    def _city_of(self, place: Place, near: list[tuple[float, Place]]) -> Place | None:
        """The city ``place`` is a section of, if it is one: GeoNames lists city districts
        ("Chicago Loop", "Marseille 02", "Ville-Marie") as populated places of their own, and
        a point in one is in the city. A section lies well inside a place ten times its size;
        a US place that USPS files ZIPs under is a town of its own (Brookline, not Boston)."""
        if place.country_code == US and self.gazetteer.postal_areas_of_city(
            place.name, place.admin1 or ""
        ):
            return None
        cities = [
            (_distance(place.latitude, place.longitude, p.latitude, p.longitude), p)
            for _, p in near
            if p.population >= _SECTION_RATIO * max(place.population, 1)
        ]
        cities = [(d, p) for d, p in cities if d <= _SECTION_SHARE * p.radius_km]
        return min(cities, key=_pull)[1] if cities else None

    def _postal_area_for(self, lat: float, lon: float, place: Place) -> PostalArea | None:
        """The nearest ZIP filed under the chosen place's name, else the nearest ZIP at all.

        ZIP centroids alone would hand a point near a boundary to the neighbouring town; the
        place decides the locality and the ZIP follows it, so the answer stays consistent.
        """
        areas = [
            (d, a)
            for d, a in self.gazetteer.postal_areas_near(lat, lon, 25.0)
            if a.kind != "PO BOX"
        ]
        for _, area in areas:
            if area.state == place.admin1 and fold(place.name) in {
                fold(area.city),
                *(fold(x) for x in area.other_cities),
            }:
                return area
        return areas[0][1] if areas else None

    # -- building matches --------------------------------------------------------------------------

    def _postcode_match(self, area: PostalArea) -> _Match:
        gaz = self.gazetteer
        radius = self._zip_radius.get(area.code)
        if radius is None:
            # ZIP areas are small where ZIPs are dense: size the box by the neighbours' spacing.
            neighbours = gaz.postal_areas_near(area.latitude, area.longitude, 60.0)
            spacing = neighbours[min(4, len(neighbours) - 1)][0] if len(neighbours) > 1 else 10.0
            radius = self._zip_radius[area.code] = min(25.0, max(1.5, 0.6 * spacing))
        formatted = f"{area.city}, {area.state} {area.code}"
        return _Match(
            POSTCODE,
            area.latitude,
            area.longitude,
            _bbox(area.latitude, area.longitude, radius),
            Address(
                admin_district=area.state,
                admin_district2=area.county,
                country_region=gaz.country_names[US],
                formatted_address=formatted,
                locality=area.city,
                postal_code=area.code,
            ),
        )

    def _place_match(self, place: Place) -> _Match:
        gaz = self.gazetteer
        country = gaz.country_names.get(place.country_code, place.country_code)
        if place.country_code == US:
            formatted = f"{place.name}, {place.admin1}" if place.admin1 else place.name
            county = gaz.county_near(place.latitude, place.longitude, place.admin1)
        else:
            formatted, county = f"{place.name}, {country}", None
        return _Match(
            PLACE,
            place.latitude,
            place.longitude,
            _bbox(place.latitude, place.longitude, place.radius_km),
            Address(
                admin_district=place.admin1,
                admin_district2=county,
                country_region=country,
                formatted_address=formatted,
                locality=place.name,
            ),
        )

    def _foreign_postcode_match(
        self, record: Postcode, country_code: str, place: Place | None, c: _Components
    ) -> _Match:
        """A postal code abroad at the centroid the data gives it, named as it was asked; when
        the data knows only a coarser code that contains it (the area SW of SW1A 1AA), that
        code, UpHierarchy and Medium."""
        gaz = self.gazetteer
        country = gaz.country_names.get(country_code, country_code)
        locality = place.name if place else _tidy(record.locality)
        asked = c.postal_code or record.code
        exact = normalise_postcode(asked) == normalise_postcode(record.code)
        code = " ".join(asked.split()).upper() if exact else record.code
        lat, lon = record.latitude or 0.0, record.longitude or 0.0  # has_point: both are set
        match = _Match(
            POSTCODE,
            lat,
            lon,
            _bbox(lat, lon, _POSTCODE_RADIUS_KM),
            Address(
                admin_district=place.admin1 if place else None,
                country_region=country,
                formatted_address=", ".join(x for x in (f"{code} {locality}", country) if x),
                locality=locality,
                postal_code=code,
            ),
        )
        if not exact:
            match.codes.add("UpHierarchy")
            match.confidence = "Medium"
        return match

    def _place_from_postal_areas(self, areas: list[PostalArea]) -> _Match:
        """A US town below the GeoNames population threshold, located by its ZIP centroids."""
        gaz = self.gazetteer
        standard = [a for a in areas if a.kind == "STANDARD"] or areas
        lat = sum(a.latitude for a in standard) / len(standard)
        lon = sum(a.longitude for a in standard) / len(standard)
        first = standard[0]
        south = min(a.latitude for a in standard)
        north = max(a.latitude for a in standard)
        west = min(a.longitude for a in standard)
        east = max(a.longitude for a in standard)
        margin = _bbox(lat, lon, 2.0)
        bbox = (
            min(south, margin[0]),
            min(west, margin[1]),
            max(north, margin[2]),
            max(east, margin[3]),
        )
        return _Match(
            PLACE,
            lat,
            lon,
            bbox,
            Address(
                admin_district=first.state,
                admin_district2=first.county,
                country_region=gaz.country_names[US],
                formatted_address=f"{first.city}, {first.state}",
                locality=first.city,
            ),
        )

    def _region_match(
        self, region: Region, entity_type: str, *, state: str | None = None
    ) -> _Match:
        gaz = self.gazetteer
        if entity_type == STATE:
            address = Address(
                admin_district=state,
                country_region=gaz.country_names[US],
                formatted_address=f"{region.name}, {gaz.country_names[US]}",
            )
        else:
            address = Address(country_region=region.name, formatted_address=region.name)
        margin = _bbox(region.latitude, region.longitude, 10.0)
        bbox = (
            min(region.south, margin[0]),
            min(region.west, margin[1]),
            max(region.north, margin[2]),
            max(region.east, margin[3]),
        )
        return _Match(entity_type, region.latitude, region.longitude, bbox, address)


# -- free text -------------------------------------------------------------------------------------


def _longest_place_run(gaz: Gazetteer, words: list[str]) -> str | None:
    """The longest run of ``words`` (the leftmost of equally long ones) that names a place, is
    shorter than all of them and longer than two characters; None when there is none.

    That is what trying every run, longest first, finds, in O(words x longest place name)
    lookups instead of O(words³) work. A run is looked up by its folded words, and words that
    fold to nothing ("-", "&", scripts ``fold`` drops) add nothing to it. So every run around
    one *core* (a stretch of words that do fold to something) is the same name, the widest of
    them is the one the longest-first search meets first, and a core of more folded words than
    the longest place name names nothing.
    """
    folded = [fold(word).split() for word in words]
    best: tuple[int, int] | None = None  # (length, -start) of the best run so far
    found = None
    for start, end, name in _widest_runs(folded, gaz.longest_name_words):
        rank = (end - start, -start)
        # The run of all the words is the whole text, looked up already.
        if end - start == len(words) or (best is not None and rank <= best):
            continue
        if gaz.places_named(name):
            candidate = " ".join(words[start:end])
            if len(candidate) > 2:
                best, found = rank, candidate
    return found


def _widest_runs(folded: list[list[str]], longest: int) -> Iterator[tuple[int, int, str]]:
    """(start, end, folded name) of the widest run around each core of at most ``longest``
    folded words, and of each stretch of words that fold to nothing (named "")."""
    solid = [index for index, parts in enumerate(folded) if parts]
    bounds = [-1, *solid, len(folded)]  # bounds[k + 1] is solid[k]
    for first in range(len(solid) + 1):
        start = bounds[first] + 1
        if bounds[first + 1] > start:
            yield start, bounds[first + 1], ""
        name: list[str] = []
        for last in range(first, len(solid)):
            name += folded[solid[last]]
            if len(name) > longest:
                break
            yield start, bounds[last + 2], " ".join(name)


# -- helpers ---------------------------------------------------------------------------------------


def _pull(near: tuple[float, Place]) -> tuple[float, str]:
    """A populated place's pull on a point grows with its size: the distance weighted by
    population^¼, so that a point at the edge of a town is not given to a bigger neighbour."""
    distance, place = near
    return distance / max(place.population, 1) ** 0.25, place.name


def _names_of(parts: list[str]) -> list[tuple[str | None, str | None]]:
    return [_split_postal(part) for part in parts]


def _split_postal(text: str) -> tuple[str | None, str | None]:
    """(place name, postal code) of a part written "1012 JS Amsterdam", "Amsterdam 1012 JS" or
    "1012 JS"; (text, None) when it holds no postal code."""
    text = text.strip()
    if _POSTAL_ONLY.fullmatch(text):
        return None, text
    for pattern in (_POSTAL_LAST, _POSTAL_FIRST):
        match = pattern.fullmatch(text)
        if match:
            return match.group("name").strip(), match.group("code")
    return text, None


def _zip_serves(area: PostalArea, locality: str, place: Place | None = None) -> bool:
    """Whether USPS files this ZIP under ``locality`` (and in ``place``'s state, if given)."""
    if place is not None and place.admin1 != area.state:
        return False
    return fold(locality) in {fold(area.city), *(fold(x) for x in area.other_cities)}


def _tidy(name: str | None) -> str | None:
    # Some postal data writes localities in capitals ("PARIS").
    return name.title() if name and name.isupper() else name


def _blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _num(value: float) -> str:
    return repr(round(value, 6))


def _distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from .gazetteer import distance_km

    return distance_km(lat1, lon1, lat2, lon2)


def _bbox(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    dlat = radius_km / 111.32
    dlon = radius_km / (111.32 * max(math.cos(math.radians(lat)), 0.01))
    return (
        max(-90.0, lat - dlat),
        max(-180.0, lon - dlon),
        min(90.0, lat + dlat),
        min(180.0, lon + dlon),
    )


def _by_distance(distance: float, high_within: float, medium_within: float) -> str:
    if distance <= high_within:
        return "High"
    return "Medium" if distance <= medium_within else "Low"


def _at_most(confidence: str, cap: str) -> str:
    return confidence if _RANK[confidence.casefold()] <= _RANK[cap.casefold()] else cap


def _coordinate(value: str | None, name: str, limit: float) -> float:
    text = _blank(value)
    if text is None:
        raise EntityFaultError(
            "To reverse geocode a location, you must specify both Location.Latitude and "
            "Location.Longitude."
        )
    try:
        number = float(text)
    except ValueError:
        raise EntityFaultError(
            f"The Location.{name} value '{text}' is not a valid number."
        ) from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise EntityFaultError(
            f"The Location.{name} value '{text}' is out of range; it must be between "
            f"-{limit:g} and {limit:g}."
        )
    return number


def _minimum_confidence(value: str | None) -> int:
    text = _blank(value)
    if text is None:
        return 0
    rank = _RANK.get(text.casefold())
    if rank is None:
        raise EntityFaultError(
            f"The ConfidenceFilter.MinimumConfidence value '{text}' is not valid; use Low, "
            "Medium or High."
        )
    return rank


def _max_results(value: int | None) -> int:
    # The toolkit clamps MaxResults to 1..20; without it the service returns one result.
    return 1 if value is None else min(20, max(1, int(value)))
