"""What every synchronous provider's mapping needs: the entity faults the Dataflow service
reports for coordinates, and value helpers shared by the adapters."""

from __future__ import annotations

import math
from typing import Any


class EntityFault(Exception):
    """The entity fails with StatusCode BadRequest and this FaultReason, without a request."""


def clean(value: str | None) -> str | None:
    """A value without surrounding blanks; empty is absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def number_text(value: Any) -> str:
    """A coordinate as the result files write it (six decimals at most)."""
    return repr(round(float(value), 6))


def coordinate(value: str | None, name: str, limit: float) -> float:
    """A reverse request's Latitude or Longitude, with the Dataflow service's words when bad."""
    text = clean(value)
    if text is None:
        raise EntityFault(
            "To reverse geocode a location, you must specify both Location.Latitude and "
            "Location.Longitude."
        )
    try:
        number = float(text)
    except ValueError:
        raise EntityFault(f"The Location.{name} value '{text}' is not a valid number.") from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise EntityFault(
            f"The Location.{name} value '{text}' is out of range; it must be between "
            f"-{limit:g} and {limit:g}."
        )
    return number
