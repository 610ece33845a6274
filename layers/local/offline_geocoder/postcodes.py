"""Postal codes outside the US, from the ``countrystatecity-postal-codes`` package (ODbL).

It ships one file per country (125 countries): each code with its locality and the ISO 3166-2
code of its division, and a centroid for some countries only (Australia, Canada, Poland, ...).
A country's file is read the first time one of its codes is asked for, and only if the code
has that country's format (the package's regular expressions): most runs never read one, and
reading all of them would cost seconds and hundreds of MB (Japan's, Mexico's and Portugal's
take over a second and 50-100 MB each).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Postcode:
    """One postal code: its locality and division, and its centroid when the data has one."""

    code: str
    locality: str | None
    division: str | None  # ISO 3166-2 suffix ("NH" for Noord-Holland)
    latitude: float | None
    longitude: float | None

    @property
    def has_point(self) -> bool:
        return self.latitude is not None and self.longitude is not None


def normalise(code: str) -> str:
    """A postal code as the index keys it: upper case, no spaces or hyphens."""
    return re.sub(r"[\s-]+", "", code).upper()


def broader_codes(code: str) -> list[str]:
    """The code and the coarser codes that contain it, finest first, as the data may hold only
    those: the Dutch district of "1012 JS" is 1012, the outward code of "SW1A 1AA" is SW1A and
    its area SW, the forward sortation area of "K1A 0B1" is K1A."""
    text = code.strip().upper()
    found = [normalise(text)]
    head = re.split(r"[\s-]+", text)[0]
    digits_then_letters = re.fullmatch(r"(\d{4})\s?[A-Z]{2}", text)
    if digits_then_letters:
        found.append(digits_then_letters.group(1))
    if head != text and re.search(r"[A-Z]", head) and re.search(r"\d", head):
        found.append(head)  # an outward code (UK) or sortation area (Canada)
    letters = re.match(r"[A-Z]{1,2}(?=\d)", text)
    if letters:
        found.append(letters.group(0))  # a UK postcode area
    return list(dict.fromkeys(found))


class WorldPostcodes:
    """Postal codes by country, each country read on first use and kept."""

    def __init__(self) -> None:
        self._by_country: dict[str, dict[str, list[Postcode]]] = {}
        self._formats: dict[str, re.Pattern[str]] | None = None
        self._lock = threading.Lock()

    def lookup(self, country: str, code: str) -> list[Postcode]:
        """The records of the finest code in ``broader_codes(code)`` that ``country`` has;
        nothing for a code not in the country's format (its separators optional)."""
        form = self._format(country)
        if form is not None and not form.match(code.strip().upper()):
            return []
        table = self._table(country)
        for key in broader_codes(code):
            if key in table:
                return table[key]
        return []

    def countries_holding(self, code: str) -> list[str]:
        """The countries whose format ``code`` has and whose data holds it (or a coarser code
        that contains it), for a code given without its country. Only codes with letters are
        looked for: "1012 JS" has one country's format, "75001" some forty."""
        if not re.search(r"[A-Za-z]", code) or not re.search(r"\d", code):
            return []
        self._format("")  # the formats, read once
        candidates = sorted(c for c, form in (self._formats or {}).items() if form.match(code))
        return [c for c in candidates if self.lookup(c, code)]

    def _format(self, country: str) -> re.Pattern[str] | None:
        with self._lock:
            if self._formats is None:
                self._formats = _read_formats()
            return self._formats.get(country)

    def _table(self, country: str) -> dict[str, list[Postcode]]:
        with self._lock:
            table = self._by_country.get(country)
            if table is None:
                table = self._by_country[country] = _read(country)
            return table


def _data():
    from importlib.resources import files

    return files("countrystatecity_postal_codes") / "data"


def _read_formats() -> dict[str, re.Pattern[str]]:
    with (_data() / "countries.json").open(encoding="utf-8") as handle:
        countries = json.load(handle)
    formats = {}
    for country in countries:
        pattern = country.get("postalCodeRegex")
        if not pattern:
            continue
        try:
            formats[country["countryCode"]] = re.compile(_separators_optional(pattern))
        except re.error:
            continue  # no usable format: that country's codes are not filtered
    return formats


def _separators_optional(pattern: str) -> str:
    """``pattern`` with its literal hyphens and spaces (outside character classes) optional:
    "00001" is Poland's 00-001 written without its hyphen."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        out.append(ch)
        if escaped:
            escaped = False
            if ch == "s" and not in_class:
                out.append("?")
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch in "- " and not in_class:
            out.append("?")
    return "".join(out)


def _read(country: str) -> dict[str, list[Postcode]]:
    if not re.fullmatch(r"[A-Z]{2}", country or ""):
        return {}
    path = _data() / "by-country" / country / "postcodes.json"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        rows = json.load(handle)
    table: dict[str, list[Postcode]] = {}
    for row in rows:
        code = row.get("code")
        if not code:
            continue
        lat, lon = row.get("latitude"), row.get("longitude")
        table.setdefault(normalise(code), []).append(
            Postcode(
                code=code,
                locality=row.get("localityName") or None,
                division=row.get("stateCode") or None,
                latitude=float(lat) if lat is not None else None,
                longitude=float(lon) if lon is not None else None,
            )
        )
    return table
