"""The match summary of a job: matched / no match / failed, by confidence and entity type."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from geocode_dataflow.results.flat import FAILED, MATCHED, NO_MATCH, MatchResult


@dataclass
class MatchSummary:
    matched: int = 0
    no_match: int = 0
    failed: int = 0
    by_confidence: Counter[str] = field(default_factory=Counter)  # matched rows only
    by_entity_type: Counter[str] = field(default_factory=Counter)  # matched rows only

    def add(self, result: MatchResult) -> None:
        if result.status == MATCHED:
            self.matched += 1
            self.by_confidence[result.confidence or "unknown"] += 1
            self.by_entity_type[result.entity_type or "unknown"] += 1
        elif result.status == NO_MATCH:
            self.no_match += 1
        else:
            assert result.status == FAILED  # noqa: S101 - the vocabulary of flat.py
            self.failed += 1

    @property
    def rows(self) -> int:
        return self.matched + self.no_match + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "matched": self.matched,
            "no_match": self.no_match,
            "failed": self.failed,
            "by_confidence": dict(self.by_confidence.most_common()),
            "by_entity_type": dict(self.by_entity_type.most_common()),
        }
