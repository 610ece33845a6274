"""Entity-level checks: what the service would fail (or silently misread) in one entity.

Shared by ``validate_feed`` (warnings) and by whoever plays the service (the emulator can ask
``fault_reason`` for the FaultReason of a failed entity).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from geocode_dataflow.schema.model import GeocodeEntity, GeocodeRequest, ReverseGeocodeRequest

NO_ADDRESS_FIELD = "To geocode a location, you must specify at least one address field."
FORMATTED_ADDRESS = (
    "The Address.FormattedAddress property must not be specified because it is an "
    "output-only property."
)
CONFIDENCE_VALUES = ("Low", "Medium", "High")
MAX_RESULTS_RANGE = (1, 20)
_FORMULA_PREFIXES = ("=", "+", "-", "@")
# xs:double's lexical form without INF/NaN (no coordinate is infinite).
_DOUBLE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# Request address parts that count as "an address field" (FormattedAddress is output-only).
_ADDRESS_INPUTS = (
    "address_line", "admin_district", "country_region", "admin_district2",
    "locality", "postal_code", "postal_town",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Finding:
    """``fails``: the service fails the entity with ``message`` as its FaultReason."""

    code: str
    message: str
    fails: bool


def is_number(value: str) -> bool:
    """A finite xs:double as the schema writes one: ASCII digits, optional sign, ``.`` and
    exponent (``47.6``, ``-122``, ``4.76e1``). ``float()`` also takes ``1_0``, non-ASCII digits
    (``٤٧``), ``inf``/``nan`` and surrounding Unicode spaces, which the service does not."""
    return _DOUBLE.fullmatch(value) is not None


def is_coordinate(value: str | None, bound: float) -> bool:
    """``value`` is a number within [-bound, bound] (what ``_coordinate`` accepts)."""
    return value is not None and is_number(value) and -bound <= float(value) <= bound


def _coordinate(value: str | None, name: str, bound: float) -> str | None:
    """Why ``value`` is not a usable coordinate, or None when it is."""
    if value is None:
        return f"the {name} is missing"
    if not is_number(value):
        return f"the {name} {value!r} is not a number (ASCII digits 0-9, e.g. 47.6)"
    number = float(value)
    if not math.isfinite(number):  # 1e999
        return f"the {name} {value!r} is not a finite number"
    if not -bound <= number <= bound:
        return f"the {name} {value} is outside [-{bound:g}, {bound:g}]"
    return None


def _options(request: GeocodeRequest | ReverseGeocodeRequest, kind: str) -> list[Finding]:
    found = []
    if (
        request.max_results is not None
        and not MAX_RESULTS_RANGE[0] <= request.max_results <= MAX_RESULTS_RANGE[1]
    ):
        found.append(
            Finding(
                "max-results-range",
                f"{kind} MaxResults={request.max_results} is outside 1..20.",
                True,
            )
        )
    confidence = request.min_confidence
    if confidence is not None and confidence.casefold() not in {
        v.casefold() for v in CONFIDENCE_VALUES
    }:
        found.append(
            Finding(
                "unknown-min-confidence",
                f"{kind} MinimumConfidence {confidence!r} is not one of Low, Medium, High.",
                True,
            )
        )
    return found


def _forward(request: GeocodeRequest) -> list[Finding]:
    found = []
    address = request.address
    if address is not None and address.formatted_address:
        found.append(Finding("formatted-address", FORMATTED_ADDRESS, True))
    has_field = address is not None and any(getattr(address, part) for part in _ADDRESS_INPUTS)
    if not request.query and not has_field:
        found.append(Finding("no-address-field", NO_ADDRESS_FIELD, True))
    return found + _options(request, "GeocodeRequest")


def _reverse(request: ReverseGeocodeRequest) -> list[Finding]:
    problems = [
        problem
        for problem in (
            _coordinate(request.latitude, "latitude", 90.0),
            _coordinate(request.longitude, "longitude", 180.0),
        )
        if problem
    ]
    found = []
    if problems:
        found.append(
            Finding(
                "invalid-location",
                "To reverse geocode a location, you must specify a valid Location: "
                + "; ".join(problems)
                + ".",
                True,
            )
        )
    return found + _options(request, "ReverseGeocodeRequest")


def _formula(entity: GeocodeEntity) -> Finding | None:
    """Cells that a spreadsheet would run as a formula when the results are opened."""
    values = [entity.id]
    forward = entity.geocode_request
    if forward is not None:
        values += [forward.query, forward.culture]
        if forward.address is not None:
            values += [
                getattr(forward.address, part) for part in (*_ADDRESS_INPUTS, "formatted_address")
            ]
    reverse = entity.reverse_geocode_request
    if reverse is not None:
        values += [reverse.culture, reverse.include_entity_types]
    for value in values:
        if value and value.startswith(_FORMULA_PREFIXES) and not is_number(value):
            return Finding(
                "formula-injection",
                f"the value {value[:40]!r} starts with {value[0]!r}: spreadsheets opening the "
                "file (or its results) would evaluate it as a formula",
                False,
            )
    return None


def check_entity(entity: GeocodeEntity) -> list[Finding]:
    """Everything wrong with one entity, the service-failing findings first.

    With both request kinds the service performs one; like ``GeocodeEntity.kind`` we take it
    to be the ReverseGeocodeRequest, and only the request used is checked.
    """
    found: list[Finding] = []
    forward, reverse = entity.geocode_request, entity.reverse_geocode_request
    if reverse is None and forward is None:
        found.append(
            Finding("no-request", NO_ADDRESS_FIELD + " (The entity has no request.)", True)
        )
    elif reverse is not None:  # the same precedence as GeocodeEntity.kind
        found += _reverse(reverse)
        if forward is not None:
            found.append(
                Finding(
                    "both-requests",
                    "the entity has both a ReverseGeocodeRequest and a GeocodeRequest; one request "
                    "is processed per entity: the ReverseGeocodeRequest is used and the "
                    "GeocodeRequest is ignored",
                    False,
                )
            )
    elif forward is not None:
        found += _forward(forward)
    formula = _formula(entity)
    if formula is not None:
        found.append(formula)
    return found


def fault_reason(entity: GeocodeEntity) -> str | None:
    """The FaultReason the service gives this entity, or None when it processes it."""
    for finding in check_entity(entity):
        if finding.fails:
            return finding.message
    return None
