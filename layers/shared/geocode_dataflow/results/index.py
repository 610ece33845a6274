"""The results of a job by entity id, on disk (``geocode_dataflow.byid``).

Result sets come back in an order of the provider's own and can hold hundreds of thousands
of entities: an on-disk index keeps the join with the input in constant memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from geocode_dataflow.byid import ByIdIndex
from geocode_dataflow.results.flat import MatchResult, flatten
from geocode_dataflow.schema import GeocodeEntity


class ResultIndex:
    """Flattened results by entity Id (``byid``): a later set's entity overrides an earlier's."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._index = ByIdIndex(directory)

    def add(self, entities: Iterable[GeocodeEntity], *, failed: bool) -> int:
        """Index one result set; returns how many entities it held."""
        return self._index.add(
            "failed" if failed else "succeeded",
            (
                (entity.id or "", json.dumps(_encode(flatten(entity, failed=failed))))
                for entity in entities
            ),
        )

    def get(self, entity_id: str | None) -> MatchResult | None:
        found = self._index.latest(entity_id or "")
        return _decode(json.loads(found[1])) if found else None

    def close(self) -> None:
        self._index.close()

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _encode(result: MatchResult) -> list[object]:
    return [
        result.status,
        list(result.values),
        result.latitude,
        result.longitude,
        result.confidence,
        result.entity_type,
    ]


def _decode(data: list) -> MatchResult:
    status, values, latitude, longitude, confidence, entity_type = data
    return MatchResult(status, tuple(values), latitude, longitude, confidence, entity_type)
