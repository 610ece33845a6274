"""``validate_feed``: is this file worth sending, and which entities will the service fail?

Two levels, as the service has them: file-level errors (the job would be refused or the file
misread: nothing should be sent) and entity-level warnings (the file is fine; the service fails
those entities individually). Memory stays flat except for the set of Ids needed to find
duplicates, which is inherent; it holds a 64-bit hash and a line number per Id (~12 bytes),
never the rows.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from geocode_dataflow.schema.checks import check_entity
from geocode_dataflow.schema.detect import check_format, format_from_name
from geocode_dataflow.schema.encoding import DecodedSource, Source
from geocode_dataflow.schema.issues import FeedError, Issue
from geocode_dataflow.schema.reader import open_decoded

DEFAULT_MAX_ISSUES = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    """Service limits a file is checked against (Enterprise defaults; ``Limits.basic()``)."""

    max_entities: int = 200_000
    max_bytes: int = 300 * 1024 * 1024  # uncompressed UTF-8

    @classmethod
    def basic(cls) -> Limits:
        """Basic keys: at most 50 entities per job."""
        return cls(max_entities=50)


class IdIndex:
    """A compact set of entity Ids remembering the line of each, for duplicate detection.

    Open addressing over two flat arrays (64-bit hash, 32-bit line): 12 bytes per slot at a
    load factor of 0.4-0.8, so 15-30 bytes per Id instead of the ~150 a set of strings costs.
    Two different Ids colliding on 64 bits (odds ~1e-9 for 200,000 Ids) would be reported as a
    duplicate; that is accepted.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._keys = array("q", [0]) * capacity
        self._lines = array("I", [0]) * capacity
        self._mask = capacity - 1
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, entity_id: str, line: int) -> int | None:
        """Remember ``entity_id``; return the line of an earlier occurrence, if any."""
        key = hash(entity_id) or 1  # 0 marks an empty slot
        slot = key & self._mask
        keys = self._keys
        while True:
            found = keys[slot]
            if found == 0:
                break
            if found == key:
                return self._lines[slot]
            slot = (slot + 1) & self._mask
        keys[slot] = key
        self._lines[slot] = line
        self._size += 1
        if self._size * 5 > len(keys) * 4:  # load factor 0.8: short probes, few bytes
            self._grow()
        return None

    @property
    def nbytes(self) -> int:
        """Memory held by the table itself."""
        return len(self._keys) * self._keys.itemsize + len(self._lines) * self._lines.itemsize

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        capacity = len(old_keys) * 2
        self._keys = array("q", [0]) * capacity
        self._lines = array("I", [0]) * capacity
        self._mask = capacity - 1
        keys, lines, mask = self._keys, self._lines, self._mask
        for key, line in zip(old_keys, old_lines, strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                lines[slot] = line


class IssueList:
    """Keeps the first ``cap`` issues and counts all of them, so garbage cannot exhaust memory."""

    def __init__(self, cap: int) -> None:
        self.items: list[Issue] = []
        self.total = 0
        self.by_code: Counter[str] = Counter()
        self._cap = cap

    def add(self, issue: Issue) -> None:
        self.total += 1
        self.by_code[issue.code] += 1
        if len(self.items) < self._cap:
            self.items.append(issue)


@dataclass
class ValidationReport:
    """The outcome of ``validate_feed``. ``valid`` is False when there is any file-level error."""

    filename: str | None = None
    format: str | None = None
    encoding: str | None = None
    compressed: bool = False
    utf8_bytes: int = 0
    entity_count: int = 0
    geocode_count: int = 0
    reverse_count: int = 0
    invalid_entity_count: int = 0  # entities the service is expected to fail
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_count: int = 0  # all errors, including those beyond the stored list
    warning_count: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    warning_codes: dict[str, int] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "filename": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "compressed": self.compressed,
            "utf8_bytes": self.utf8_bytes,
            "entity_count": self.entity_count,
            "geocode_count": self.geocode_count,
            "reverse_count": self.reverse_count,
            "invalid_entity_count": self.invalid_entity_count,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "error_codes": dict(self.error_codes),
            "warning_codes": dict(self.warning_codes),
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
            "errors_truncated": self.error_count > len(self.errors),
            "warnings_truncated": self.warning_count > len(self.warnings),
            "limits": {
                "max_entities": self.limits.max_entities,
                "max_bytes": self.limits.max_bytes,
            },
        }

    def to_text(self) -> str:
        what = ", ".join(
            part
            for part in (self.format, self.encoding, "gzip" if self.compressed else None)
            if part
        )
        lines = [
            f"{'VALID' if self.valid else 'INVALID'}: {self.filename or '<stream>'}"
            + (f" ({what})" if what else ""),
            f"  {self.entity_count:,} entities: {self.geocode_count:,} geocode, "
            f"{self.reverse_count:,} reverse; "
            f"{self.invalid_entity_count:,} will be failed by the service",
        ]
        for title, issues, total in (
            ("File-level errors", self.errors, self.error_count),
            ("Entity-level warnings", self.warnings, self.warning_count),
        ):
            if not total:
                continue
            lines.append(f"{title} ({total:,}):")
            lines += [
                f"  {issue.where() or '-'}: [{issue.code}] {issue.message}" for issue in issues
            ]
            if total > len(issues):
                lines.append(f"  ... and {total - len(issues):,} more")
        return "\n".join(lines)


def validate_feed(
    source: Source,
    filename: str | None = None,
    *,
    fmt: str | None = None,
    limits: Limits | None = None,
    max_issues: int = DEFAULT_MAX_ISSUES,
) -> ValidationReport:
    """Check a feed end to end, streaming; never raises for a bad file (see ``report.errors``).

    I/O errors of the source itself propagate. Reading stops early only when the file is
    beyond ``limits.max_bytes`` or unreadable from some point on.
    """
    limits = limits or Limits()
    errors, warnings = IssueList(max_issues), IssueList(max_issues)
    report = ValidationReport(filename=filename, limits=limits)
    report.format = check_format(fmt) or _name_format(filename)
    ids = IdIndex()

    def on_issue(issue: Issue, is_error: bool) -> None:
        (errors if is_error else warnings).add(issue)

    decoded = None
    try:
        decoded = DecodedSource(source, max_bytes=limits.max_bytes)
        report.encoding, report.compressed = decoded.encoding, decoded.compressed
        with open_decoded(decoded, filename, fmt, on_issue) as reader:
            report.format = reader.format
            for entity in reader:
                _check(entity, report, ids, errors, warnings)
    except FeedError as exc:
        errors.add(exc.issue)
    finally:
        if decoded is not None:
            report.utf8_bytes = decoded.utf8.utf8_bytes
            decoded.close()

    if report.entity_count == 0 and errors.total == 0:
        errors.add(Issue("no-entities", "the file contains no entities (header only?)"))
    if report.entity_count > limits.max_entities:
        errors.add(
            Issue(
                "too-many-entities",
                f"the file has {report.entity_count:,} entities; the limit is "
                f"{limits.max_entities:,} per job",
            )
        )
    report.errors, report.error_count, report.error_codes = (
        errors.items,
        errors.total,
        dict(errors.by_code),
    )
    report.warnings, report.warning_count = warnings.items, warnings.total
    report.warning_codes = dict(warnings.by_code)
    return report


def _name_format(filename: str | None) -> str | None:
    by_name = format_from_name(filename)
    return None if by_name == "text" else by_name


def _check(
    entity: Any, report: ValidationReport, ids: IdIndex, errors: IssueList, warnings: IssueList
) -> None:
    report.entity_count += 1
    kind = entity.kind
    if kind == "geocode":
        report.geocode_count += 1
    elif kind == "reverse":
        report.reverse_count += 1
    line = entity.line
    if entity.id is None:
        errors.add(
            Issue("missing-id", "the entity has no Id (every entity needs a unique Id)", line=line)
        )
    else:
        earlier = ids.add(entity.id, line or 0)
        if earlier is not None:
            errors.add(
                Issue(
                    "duplicate-id",
                    f"the Id {entity.id!r} is a duplicate: it was first used on line {earlier} "
                    "and is used again here; results are matched to inputs by Id, so Ids must "
                    "be unique",
                    line=line,
                    entity_id=entity.id,
                )
            )
    fails = False
    for finding in check_entity(entity):
        fails = fails or finding.fails
        warnings.add(Issue(finding.code, finding.message, line=line, entity_id=entity.id))
    if fails:
        report.invalid_entity_count += 1
