"""How far one provider's answers are from another's for the same Data Schema v2.0 file.

Side A is read into a dict by Id (a few fields per entity), side B is streamed against it; the
result is one ``EntityComparison`` per Id (A's order, then the Ids only B has) and a ``Summary``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from geocode_dataflow.errors import InvalidFeedError
from geocode_dataflow.schema import FeedError, GeocodeEntity, open_feed
from geocode_dataflow.schema.checks import CONFIDENCE_VALUES

MATCHED, NO_MATCH, FAILED, MISSING = "matched", "no_match", "failed", "missing"
STATUSES = (MATCHED, NO_MATCH, FAILED, MISSING)
RESULT_SETS = ("succeeded", "failed")  # the files read from a job folder, in this order
SUCCESS = "Success"
EARTH_RADIUS_M = 6_371_008.8  # the IUGG mean radius
THRESHOLDS_M = {"100m": 100.0, "1km": 1_000.0, "10km": 10_000.0}  # label -> metres
EXAMPLES = 5  # Ids shown per kind of change

# Finest first; RoadBlock and RoadIntersection are equally fine; other types are unranked, so a
# change to or from one counts as neither an upgrade nor a downgrade.
ENTITY_TYPE_ORDER = (
    ("Address",),
    ("RoadBlock", "RoadIntersection"),
    ("Neighborhood",),
    ("Postcode1",),
    ("PopulatedPlace",),
    ("AdminDivision2",),
    ("AdminDivision1",),
    ("CountryRegion",),
)
# Higher is better: finer for entity types, more confident for confidences.
_TYPE_RANK = {
    name.casefold(): -rank for rank, names in enumerate(ENTITY_TYPE_ORDER) for name in names
}
_CONFIDENCE_RANK = {name.casefold(): rank for rank, name in enumerate(CONFIDENCE_VALUES)}

CSV_COLUMNS = (
    "id",
    "status_a",
    "status_b",
    "distance_m",
    "entity_type_a",
    "entity_type_b",
    "confidence_a",
    "confidence_b",
    "match_codes_a",
    "match_codes_b",
    "fault_reason_a",
    "fault_reason_b",
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one provider answered for one entity: the few fields a comparison needs."""

    status: str
    latitude: float | None = None
    longitude: float | None = None
    entity_type: str | None = None
    confidence: str | None = None
    match_codes: str | None = None
    fault_reason: str | None = None

    @classmethod
    def of(cls, entity: GeocodeEntity) -> Outcome:
        if entity.fault_reason or (entity.status_code or SUCCESS) != SUCCESS:
            return cls(FAILED, fault_reason=entity.fault_reason or entity.status_code)
        if not entity.responses:
            return cls(NO_MATCH)
        best = entity.responses[0]
        point = best.point or (best.geocode_points[0] if best.geocode_points else None)
        latitude, longitude = (
            (_coordinate(point.latitude), _coordinate(point.longitude)) if point else (None, None)
        )
        return cls(
            MATCHED,
            latitude,
            longitude,
            best.entity_type,
            best.confidence,
            best.match_codes,
        )


MISSING_OUTCOME = Outcome(MISSING)


@dataclass(frozen=True, slots=True)
class EntityComparison:
    """One Id: A's and B's outcomes and, when both matched with a point, the distance."""

    id: str
    a: Outcome
    b: Outcome

    @property
    def matched_both(self) -> bool:
        return self.a.status == MATCHED and self.b.status == MATCHED

    @property
    def distance_m(self) -> float | None:
        a, b = self.a, self.b
        if not self.matched_both or None in (a.latitude, a.longitude, b.latitude, b.longitude):
            return None
        return distance_m(a.latitude, a.longitude, b.latitude, b.longitude)  # type: ignore[arg-type]

    @property
    def entity_type_change(self) -> int:
        """> 0: B's answer is finer (an upgrade); < 0: coarser; 0: same rank or unranked."""
        return self._change(_TYPE_RANK, self.a.entity_type, self.b.entity_type)

    @property
    def confidence_change(self) -> int:
        """> 0: B is more confident (an upgrade); < 0: less; 0: the same or unknown."""
        return self._change(_CONFIDENCE_RANK, self.a.confidence, self.b.confidence)

    def _change(self, ranks: dict[str, int], before: str | None, after: str | None) -> int:
        rank_a = ranks.get((before or "").casefold())
        rank_b = ranks.get((after or "").casefold())
        if not self.matched_both or rank_a is None or rank_b is None:
            return 0
        return rank_b - rank_a

    def csv_row(self) -> list[str]:
        distance = self.distance_m
        return [
            self.id,
            self.a.status,
            self.b.status,
            "" if distance is None else f"{distance:.1f}",
            self.a.entity_type or "",
            self.b.entity_type or "",
            self.a.confidence or "",
            self.b.confidence or "",
            self.a.match_codes or "",
            self.b.match_codes or "",
            self.a.fault_reason or "",
            self.b.fault_reason or "",
        ]


@dataclass(frozen=True, slots=True)
class Changes:
    count: int = 0
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": list(self.examples)}


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of a comparison. Shares and percentiles are over the entities matched in
    both whose answers both carry a point (``measured``); percentiles interpolate linearly."""

    label_a: str
    label_b: str
    entities: int
    statuses_a: dict[str, int]
    statuses_b: dict[str, int]
    duplicates_a: int
    duplicates_b: int
    matched_both: int
    matched_a_only: int
    matched_b_only: int
    failed_either: int
    measured: int
    within: dict[str, float | None]  # THRESHOLDS_M label -> share of ``measured``
    median_m: float | None
    p95_m: float | None
    entity_type_downgrades: Changes
    entity_type_upgrades: Changes
    confidence_downgrades: Changes
    confidence_upgrades: Changes

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.label_a,
            "b": self.label_b,
            "entities": self.entities,
            "statuses_a": dict(self.statuses_a),
            "statuses_b": dict(self.statuses_b),
            "duplicates_a": self.duplicates_a,
            "duplicates_b": self.duplicates_b,
            "matched_both": self.matched_both,
            "matched_a_only": self.matched_a_only,
            "matched_b_only": self.matched_b_only,
            "failed_either": self.failed_either,
            "distance": {
                "measured": self.measured,
                **{f"within_{label}": _rounded(share, 4) for label, share in self.within.items()},
                "median_m": _rounded(self.median_m, 1),
                "p95_m": _rounded(self.p95_m, 1),
            },
            "entity_type": {
                "downgrades": self.entity_type_downgrades.to_dict(),
                "upgrades": self.entity_type_upgrades.to_dict(),
            },
            "confidence": {
                "downgrades": self.confidence_downgrades.to_dict(),
                "upgrades": self.confidence_upgrades.to_dict(),
            },
        }


@dataclass
class Comparison:
    label_a: str
    label_b: str
    rows: list[EntityComparison]
    duplicates_a: int = 0
    duplicates_b: int = 0

    def summary(self) -> Summary:
        distances = sorted(d for d in (row.distance_m for row in self.rows) if d is not None)
        statuses = [{s: 0 for s in STATUSES}, {s: 0 for s in STATUSES}]
        for row in self.rows:
            statuses[0][row.a.status] += 1
            statuses[1][row.b.status] += 1
        return Summary(
            label_a=self.label_a,
            label_b=self.label_b,
            entities=len(self.rows),
            statuses_a=statuses[0],
            statuses_b=statuses[1],
            duplicates_a=self.duplicates_a,
            duplicates_b=self.duplicates_b,
            matched_both=self._count(lambda r: r.matched_both),
            matched_a_only=self._count(lambda r: r.a.status == MATCHED != r.b.status),
            matched_b_only=self._count(lambda r: r.b.status == MATCHED != r.a.status),
            failed_either=self._count(lambda r: FAILED in (r.a.status, r.b.status)),
            measured=len(distances),
            within={
                label: sum(d <= limit for d in distances) / len(distances) if distances else None
                for label, limit in THRESHOLDS_M.items()
            },
            median_m=percentile(distances, 0.5),
            p95_m=percentile(distances, 0.95),
            entity_type_downgrades=self._changes(lambda r: r.entity_type_change < 0),
            entity_type_upgrades=self._changes(lambda r: r.entity_type_change > 0),
            confidence_downgrades=self._changes(lambda r: r.confidence_change < 0),
            confidence_upgrades=self._changes(lambda r: r.confidence_change > 0),
        )

    def write_csv(self, stream: TextIO) -> None:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(row.csv_row() for row in self.rows)

    def _count(self, test: Callable[[EntityComparison], bool]) -> int:
        return sum(1 for row in self.rows if test(row))

    def _changes(self, test: Callable[[EntityComparison], bool]) -> Changes:
        ids = [row.id for row in self.rows if test(row)]
        return Changes(len(ids), tuple(ids[:EXAMPLES]))


@dataclass(frozen=True)
class ResultSet:
    """The result files of one provider's run: a single file, or a job folder's succeeded.* and
    failed.*; ``label`` names the provider (job.json's ``provider``, else the folder name)."""

    label: str
    files: tuple[Path, ...] = ()

    @classmethod
    def at(cls, location: str | Path) -> ResultSet:
        path = Path(location)
        if path.is_file():
            return cls(str(location), (path,))
        if not path.is_dir():
            raise InvalidFeedError(f"{location}: no such file or folder")
        files = []
        for which in RESULT_SETS:
            found = sorted(p for p in path.glob(f"{which}.*") if p.is_file())
            if len(found) > 1:
                names = ", ".join(p.name for p in found)
                raise InvalidFeedError(f"{location}: more than one {which} result set ({names})")
            files.extend(found)
        if not files:
            raise InvalidFeedError(
                f"{location}: no succeeded.* or failed.* result set in the folder"
            )
        return cls(_provider_label(path), tuple(files))

    def outcomes(self) -> Iterator[tuple[str, Outcome]]:
        """(Id, outcome) of every entity, file by file, in file order (duplicates included)."""
        for path in self.files:
            try:
                with open_feed(path, path.name) as feed:
                    for entity in feed:
                        yield entity.id or "", Outcome.of(entity)
            except FeedError as exc:
                raise InvalidFeedError(f"{path}: not a readable Data Schema file: {exc}") from exc
            except OSError as exc:
                raise InvalidFeedError(f"{path}: cannot read it: {exc.strerror or exc}") from exc


def compare(a: ResultSet, b: ResultSet) -> Comparison:
    """Matches the entities of ``a`` and ``b`` by Id; the first of duplicate Ids counts."""
    answers: dict[str, Outcome] = {}
    duplicates_a = 0
    for entity_id, outcome in a.outcomes():
        if entity_id in answers:
            duplicates_a += 1
        else:
            answers[entity_id] = outcome
    paired: dict[str, Outcome] = {}
    only_b: list[EntityComparison] = []
    duplicates_b = 0
    for entity_id, outcome in b.outcomes():
        if entity_id in paired:
            duplicates_b += 1
            continue
        paired[entity_id] = outcome
        if entity_id not in answers:
            only_b.append(EntityComparison(entity_id, MISSING_OUTCOME, outcome))
    rows = [
        EntityComparison(entity_id, outcome, paired.get(entity_id, MISSING_OUTCOME))
        for entity_id, outcome in answers.items()
    ]
    return Comparison(a.label, b.label, rows + only_b, duplicates_a, duplicates_b)


def compare_paths(a: str | Path, b: str | Path) -> Comparison:
    return compare(ResultSet.at(a), ResultSet.at(b))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None when empty."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _coordinate(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _provider_label(folder: Path) -> str:
    job = folder / "job.json"
    if job.is_file():
        try:
            provider = json.loads(job.read_text(encoding="utf-8")).get("provider")
        except (ValueError, AttributeError, OSError):
            provider = None  # job.json only names the side; a broken one must not stop a compare
        if isinstance(provider, str) and provider:
            return provider
    return folder.resolve().name
