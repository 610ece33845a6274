"""Records by entity Id, on disk: the join of a job's results with its input, in constant memory.

A provider returns its entities in an order of its own, and a job can hold hundreds of
thousands: the results are put in an index (SQLite in a temporary directory) and looked up
while the input is read in its order. Three readers use it, each its own way:

- ``latest``: the last record added under an Id, as often as asked (the result tables of
  ``results.build``, and a part's sets in ``pipeline.parts``, where a later set overrides);
- ``take`` and ``untaken``: each record once, the first one not yet taken under the Id, then
  every record nobody took (``pipeline.ordering``: nothing the service returned is dropped,
  duplicates included).

A record is a text (the caller's serialisation) in a named set ("succeeded", "failed").
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class ByIdIndex:
    """Records under entity Ids, in the order added. ``directory``: where the temporary
    directory goes (None: the system's). Close it (or use it as a context manager)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(dir=directory, prefix="by-id-")
        self._db = sqlite3.connect(Path(self._dir.name) / "index.sqlite")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000;"
            "CREATE TABLE r (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, which TEXT NOT NULL,"
            " record TEXT NOT NULL, taken INTEGER NOT NULL DEFAULT 0);"
        )
        self._indexed = False

    def add(self, which: str, records: Iterable[tuple[str, str]]) -> int:
        """Add ``(Id, record)`` pairs to the set ``which``, streamed; returns how many."""
        count = 0

        def rows() -> Iterator[tuple[str, str, str]]:
            nonlocal count
            for entity_id, record in records:
                count += 1
                yield entity_id, which, record

        self._db.executemany("INSERT INTO r (id, which, record) VALUES (?, ?, ?)", rows())
        self._indexed = False
        return count

    def _lookups(self) -> sqlite3.Connection:
        """The connection, its Id index built once the records are in (faster than keeping
        it up to date through the inserts)."""
        if not self._indexed:
            self._db.execute("CREATE INDEX IF NOT EXISTS by_id ON r (id, seq)")
            self._indexed = True
        return self._db

    def latest(self, entity_id: str) -> tuple[str, str] | None:
        """(set, record) last added under ``entity_id``, or None."""
        return (
            self._lookups()
            .execute(
                "SELECT which, record FROM r WHERE id = ? ORDER BY seq DESC LIMIT 1", (entity_id,)
            )
            .fetchone()
        )

    def take(self, entity_id: str) -> tuple[str, str] | None:
        """(set, record) first added under ``entity_id`` and not taken yet, now taken; or None."""
        db = self._lookups()
        found = db.execute(
            "SELECT seq, which, record FROM r WHERE id = ? AND taken = 0 ORDER BY seq LIMIT 1",
            (entity_id,),
        ).fetchone()
        if found is None:
            return None
        db.execute("UPDATE r SET taken = 1 WHERE seq = ?", (found[0],))
        return found[1], found[2]

    def untaken(self) -> Iterator[tuple[str, str]]:
        """(set, record) of every record ``take`` did not take, in the order added."""
        yield from self._db.execute("SELECT which, record FROM r WHERE taken = 0 ORDER BY seq")

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def __enter__(self) -> ByIdIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
