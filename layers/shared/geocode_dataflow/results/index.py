"""The results of a job by entity id, on disk (SQLite in a temporary file).

Result sets come back in an order of the provider's own and can hold hundreds of thousands
of entities: an on-disk index keeps the join with the input in constant memory.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from geocode_dataflow.results.flat import MatchResult, flatten
from geocode_dataflow.schema import GeocodeEntity

_BATCH = 2000


class ResultIndex:
    def __init__(self, directory: str | Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(dir=directory, prefix="results-index-")
        self._db = sqlite3.connect(Path(self._dir.name) / "index.sqlite")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000;"
            "CREATE TABLE results (id TEXT PRIMARY KEY, result TEXT NOT NULL);"
        )

    def add(self, entities: Iterable[GeocodeEntity], *, failed: bool) -> int:
        """Index one result set; returns how many entities it held."""
        count, batch = 0, []
        for entity in entities:
            result = flatten(entity, failed=failed)
            batch.append((entity.id or "", json.dumps(_encode(result))))
            count += 1
            if len(batch) >= _BATCH:
                self._insert(batch)
                batch = []
        self._insert(batch)
        return count

    def _insert(self, batch: list[tuple[str, str]]) -> None:
        if batch:
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)", batch)

    def get(self, entity_id: str | None) -> MatchResult | None:
        row = self._db.execute(
            "SELECT result FROM results WHERE id = ?", (entity_id or "",)
        ).fetchone()
        return _decode(json.loads(row[0])) if row else None

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

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
