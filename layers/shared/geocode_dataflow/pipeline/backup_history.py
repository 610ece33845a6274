"""A data source's ``backups.json``: the backups kept, oldest first, safe under concurrency.

Two backups of one data source can end at the same moment (a scheduled one and one started
by hand, say). Each change is therefore a compare-and-swap: the history is read with its
ETag, changed, and written back only if nobody wrote it in between (S3's conditional write);
otherwise it is read again and the change made again. A change never deletes anything itself:
it returns the entries it removed, whose folders the caller deletes once the write succeeded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.storage import ObjectStore, WriteConflictError

HISTORY_NAME = "backups.json"
# Attempts of one change; between them a short random pause, so that writers part ways.
MAX_ATTEMPTS = 20
_PAUSE_SECONDS = 0.05

Entry = dict[str, Any]


class HistoryConflictError(RuntimeError):
    """Every attempt of a change met another writer's; the function's retry tries again."""


@dataclass
class History:
    name: str
    backups: list[Entry] = field(default_factory=list)

    @property
    def latest(self) -> Entry | None:
        return self.backups[-1] if self.backups else None

    def without(self, job_id: str) -> list[Entry]:
        """Take ``job_id``'s entry out; returns it (as a list: none or one)."""
        removed = [entry for entry in self.backups if entry.get("job_id") == job_id]
        self.backups = [entry for entry in self.backups if entry.get("job_id") != job_id]
        return removed

    def beyond(self, keep: int) -> list[Entry]:
        """Take out the oldest entries beyond the newest ``keep``; returns them."""
        removed, self.backups = self.backups[:-keep], self.backups[-keep:]
        return removed

    def to_document(self) -> dict[str, Any]:
        return {"data_source": self.name, "backups": self.backups}


def history_key(prefix: str, name: str) -> str:
    return f"{prefix}{name}/{HISTORY_NAME}"


def read_history(objects: ObjectStore, key: str, name: str) -> History:
    found = objects.get_json_tagged(key)
    return History(name) if found is None else History(name, list(found[0].get("backups", [])))


def change_history(
    objects: ObjectStore, key: str, name: str, change: Callable[[History], list[Entry] | None]
) -> list[Entry]:
    """Make ``change`` to the history as it is now and write it; returns the entries the
    change removed (``change`` returns them, or None for none)."""
    for attempt in range(MAX_ATTEMPTS):
        found = objects.get_json_tagged(key)
        if found is None:
            history, etag = History(name), None
        else:
            history, etag = History(name, list(found[0].get("backups", []))), found[1]
        removed = change(history) or []
        try:
            objects.put_json(key, history.to_document(), if_match=etag, if_absent=etag is None)
        except WriteConflictError:
            logger.info("backups.json changed meanwhile; changing it again", extra={"key": key})
            time.sleep(random.uniform(0, _PAUSE_SECONDS * (attempt + 1)))  # noqa: S311 - jitter
            continue
        return removed
    raise HistoryConflictError(f"{key} kept changing: {MAX_ATTEMPTS} attempts met other writers")
