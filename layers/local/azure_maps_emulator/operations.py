"""The two batch operations over the shared offline geocoder; no HTTP here.

Takes the ``batchItems`` of a request whose envelope is already checked and returns the 200
body: ``summary`` and one answer per item, in input order. An item that fails validation gets
an ``{"error"}`` answer in its place and the others are still answered (reference §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline_geocoder import EntityFaultError, Geocoder

from . import mapping, validation
from .validation import ItemError

# Ask the geocoder for everything it has (it stops at 20), then rank and trim to ``top``.
_CANDIDATES = 20

GEOCODE, REVERSE = "geocode:batch", "reverseGeocode:batch"


@dataclass(frozen=True)
class BatchResult:
    body: dict[str, Any]
    total: int
    failed: int


class BatchService:
    def __init__(self, geocoder: Geocoder) -> None:
        self.geocoder = geocoder

    def run(
        self, operation: str, items: list[Any], api_version: str, culture: str | None
    ) -> BatchResult:
        answer = self._forward if operation == GEOCODE else self._reverse
        answers = [answer(item, api_version, culture) for item in items]
        failed = sum(1 for a in answers if "error" in a)
        body = {
            "summary": {"successfulRequests": len(answers) - failed, "totalRequests": len(answers)},
            "batchItems": answers,
        }
        return BatchResult(body, len(answers), failed)

    def _forward(self, raw: Any, api_version: str, culture: str | None) -> dict[str, Any]:
        try:
            item = validation.forward_item(raw, api_version)
            responses = self.geocoder.forward(mapping.geocode_request(item, culture, _CANDIDATES))
        except ItemError as error:
            answer = error.body()
        except EntityFaultError as fault:
            answer = ItemError(validation.bad_request_code(api_version), str(fault)).body()
        else:
            features = self._features(responses, api_version)
            answer = _collection(mapping.ranked(features, item)[: item.top])
        # The forward example echoes optionalId first (reference §4.5, AZ-Q7).
        return {**_optional_id(raw), **answer}

    def _reverse(self, raw: Any, api_version: str, culture: str | None) -> dict[str, Any]:
        try:
            item = validation.reverse_item(raw, api_version)
            responses = self.geocoder.reverse(mapping.reverse_request(item, culture, _CANDIDATES))
        except ItemError as error:
            answer = error.body()
        except EntityFaultError as fault:
            answer = ItemError(validation.bad_request_code(api_version), str(fault)).body()
        else:
            # Only the most specific type found is returned (reference §3.2): the geocoder
            # lists its answers finest first.
            answer = _collection(self._features(responses, api_version)[:1])
        # The reverse example echoes optionalId last (reference §4.6, AZ-Q7).
        return {**answer, **_optional_id(raw)}

    def _features(self, responses: list, api_version: str) -> list[dict[str, Any]]:
        gazetteer = self.geocoder.gazetteer
        found = (mapping.feature(r, gazetteer, api_version) for r in responses)
        return [f for f in found if f is not None]


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _optional_id(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict) and raw.get("optionalId") is not None:
        return {"optionalId": raw["optionalId"]}
    return {}
