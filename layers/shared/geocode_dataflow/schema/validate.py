"""``validate_feed``: is this file worth sending, and which entities will the service fail?

Two levels, as the service has them: file-level errors (the job would be refused or the file
misread: nothing should be sent) and entity-level warnings (the file is fine; the service fails
those entities individually). Memory stays flat except for the set of Ids needed to find
duplicates, which is inherent; it holds a 64-bit hash and a line number per Id (~12 bytes),
never the rows.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from geocode_dataflow.schema.checks import check_entity
from geocode_dataflow.schema.detect import check_format, format_from_name
from geocode_dataflow.schema.encoding import DecodedSource, Source, source_name
from geocode_dataflow.schema.issues import REPEATING_CODES, FeedError, Issue
from geocode_dataflow.schema.plain import (
    PLAIN_TABLE_CODES,
    TABLE_FORMAT,
    XLSX_FORMAT,
    TableMapping,
)
from geocode_dataflow.schema.reader import is_xlsx, open_decoded, open_xlsx

DEFAULT_MAX_ISSUES = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits a file is checked against: the service's (Enterprise defaults; ``Limits.basic()``)
    and one of ours.

    ``max_elements`` is ours: the XML elements (or JSON objects in the GeocodePoints and
    QueryParseValues cells of text rows) a file may hold, 10 per entity at the entity limit
    (an entity with both requests and their children has 7; a one-result output ~12). It
    bounds the time a small gzip file can take: 300 MB of tiny elements inflate from under
    1 MB and would take minutes (at ~12 us per element, 2 million take ~25 s).
    """

    max_entities: int = 200_000
    max_bytes: int = 300 * 1024 * 1024  # uncompressed UTF-8
    max_elements: int = 2_000_000

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
    """Keeps the first ``cap`` issues and counts all of them, so garbage cannot exhaust memory.

    Remarks about the file's structure (``REPEATING_CODES``) that repeat word for word are kept
    once, at their first line, with a count: an unknown attribute on each of 200,000 entities
    is one line of the report, not 200,000 (nor 1,000 identical ones hiding everything else).
    """

    def __init__(self, cap: int) -> None:
        self.items: list[Issue] = []
        self.total = 0
        self.by_code: Counter[str] = Counter()
        self._cap = cap
        self._first: dict[tuple[str, str], int] = {}  # repeating remark -> its index in items
        self._repeats: Counter[int] = Counter()  # index in items -> further occurrences

    def add(self, issue: Issue, *, keep: bool = False) -> None:
        """``keep``: list it even past the cap (the error that stopped the read)."""
        self.total += 1
        self.by_code[issue.code] += 1
        if keep:
            self.items.append(issue)
            return
        if issue.code in REPEATING_CODES:
            key = (issue.code, issue.message)
            index = self._first.get(key)
            if index is not None:
                self._repeats[index] += 1
                return
            if len(self.items) < self._cap:
                self._first[key] = len(self.items)
        if len(self.items) < self._cap:
            self.items.append(issue)

    def collapsed(self) -> list[Issue]:
        """The kept issues, each repeated remark carrying its number of occurrences."""
        items = list(self.items)
        for index, more in self._repeats.items():
            items[index] = replace(items[index], count=more + 1)
        return items

    @property
    def shown(self) -> int:
        """Occurrences the kept issues stand for (``total`` minus those beyond the cap)."""
        return len(self.items) + sum(self._repeats.values())


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
    # Occurrences the stored lists stand for (a repeated remark counts all its occurrences):
    # below error_count / warning_count only when the lists were capped.
    errors_shown: int = 0
    warnings_shown: int = 0
    # A plain table: the user's column -> the request field it was mapped to.
    mapping: dict[str, str] | None = None
    # File-level notes that are not problems (e.g. ``response-columns-added``).
    remarks: list[Issue] = field(default_factory=list)

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
            "mapping": dict(self.mapping) if self.mapping is not None else None,
            "remarks": [issue.to_dict() for issue in self.remarks],
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "error_codes": dict(self.error_codes),
            "warning_codes": dict(self.warning_codes),
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
            "errors_truncated": self.error_count > self.errors_shown,
            "warnings_truncated": self.warning_count > self.warnings_shown,
            "limits": {
                "max_entities": self.limits.max_entities,
                "max_bytes": self.limits.max_bytes,
                "max_elements": self.limits.max_elements,
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
        if self.mapping is not None:
            lines.append(
                "  columns: "
                + ", ".join(f"{name!r} -> {field}" for name, field in self.mapping.items())
            )
        lines += [f"  note: [{issue.code}] {issue.message}" for issue in self.remarks]
        for title, issues, total, shown in (
            ("File-level errors", self.errors, self.error_count, self.errors_shown),
            ("Entity-level warnings", self.warnings, self.warning_count, self.warnings_shown),
        ):
            if not total:
                continue
            lines.append(f"{title} ({total:,}):")
            lines += [
                f"  {issue.where() or '-'}: [{issue.code}] {issue.message}" for issue in issues
            ]
            if total > shown:
                lines.append(f"  ... and {total - shown:,} more")
        return "\n".join(lines)


def validate_feed(
    source: Source,
    filename: str | None = None,
    *,
    fmt: str | None = None,
    limits: Limits | None = None,
    max_issues: int = DEFAULT_MAX_ISSUES,
    mapping: TableMapping | None = None,
) -> ValidationReport:
    """Check a feed end to end, streaming; never raises for a bad file (see ``report.errors``).

    ``filename`` (by default the path of a path source) helps decide the format, exactly as
    for ``open_feed``. I/O errors of the source itself propagate. Reading stops early when
    the file is beyond ``limits.max_bytes``, at its first entity beyond
    ``limits.max_entities``, or when it is unreadable from some point on. A plain table (csv /
    tsv / xlsx without the version line) is mapped by its column names or by ``mapping``; the
    report's ``mapping`` says what was chosen.
    """
    limits = limits or Limits()
    filename = source_name(source, filename)
    errors, warnings = IssueList(max_issues), IssueList(max_issues)
    report = ValidationReport(filename=filename, limits=limits)
    report.format = check_format(fmt) or _name_format(filename)
    ids = IdIndex()

    def on_issue(issue: Issue, is_error: bool) -> None:
        (errors if is_error else warnings).add(issue)

    decoded = None
    workbook = is_xlsx(source, filename)
    try:
        if workbook:
            reader = open_xlsx(source, on_issue, mapping, limits.max_bytes, limits.max_elements)
            decoded = reader._decoded  # noqa: SLF001 - its size, for utf8_bytes
        else:
            decoded = DecodedSource(source, max_bytes=limits.max_bytes)
            report.encoding, report.compressed = decoded.encoding, decoded.compressed
            reader = open_decoded(
                decoded, filename, fmt, on_issue, max_elements=limits.max_elements, mapping=mapping
            )
        with reader:
            report.format = reader.format
            report.mapping = reader.mapping
            report.remarks += _response_columns_remark(reader)
            for entity in reader:
                if report.entity_count == limits.max_entities:
                    # Nothing read past here can make the file acceptable: stop now rather
                    # than spend time (and Id-index memory) on the rest.
                    errors.add(too_many_entities(limits.max_entities, entity.line), keep=True)
                    break
                _check(entity, report, ids, errors, warnings)
    except FeedError as exc:
        errors.add(exc.issue, keep=True)
        if exc.code in PLAIN_TABLE_CODES:
            report.format = XLSX_FORMAT if workbook else TABLE_FORMAT
    finally:
        if decoded is not None:
            report.utf8_bytes = decoded.utf8.utf8_bytes
            decoded.close()

    if report.entity_count == 0 and errors.total == 0:
        errors.add(Issue("no-entities", "the file contains no entities (header only?)"))
    report.errors, report.error_count = errors.collapsed(), errors.total
    report.error_codes, report.errors_shown = dict(errors.by_code), errors.shown
    report.warnings, report.warning_count = warnings.collapsed(), warnings.total
    report.warning_codes, report.warnings_shown = dict(warnings.by_code), warnings.shown
    return report


def _response_columns_remark(reader: Any) -> list[Issue]:
    """A request-only v2.0 text header (or a plain table) is sent with the response columns
    added: the service returns only the uploaded columns, so results would have no coordinates."""
    if reader.format == "xml" or reader.columns is None:
        return []
    if any(c.startswith("GeocodeResponse/") for c in reader.columns):
        return []
    plain = reader.table is not None
    what = (
        "the table is sent as a Data Schema v2.0 csv"
        if plain
        else "the header has no response columns"
    )
    return [
        Issue(
            "response-columns-added",
            f"{what}: the response columns (GeocodeResponse/..., StatusCode, FaultReason, "
            "TraceId) will be added before it is sent, so that the results carry coordinates",
            line=1 if plain else 2,
        )
    ]


def too_many_entities(limit: int, line: int | None) -> Issue:
    return Issue(
        "too-many-entities",
        f"the file has more than {limit:,} entities (entity {limit + 1:,} starts here); the "
        f"limit is {limit:,} per job. Reading stopped there: split the file",
        line=line,
    )


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
    entity_id = entity.id
    if entity_id is None:
        errors.add(
            Issue("missing-id", "the entity has no Id (every entity needs a unique Id)", line=line)
        )
    else:
        # Ids that are the same text in Unicode's terms (NFC: canonically equivalent, e.g.
        # 'é' as one code point or as 'e' + combining accent) look identical and any tool on the
        # way may normalise one into the other, so they are duplicates. NFKC would go further
        # ('Ⅸ' = 'IX', '①' = '1'): different text, left alone. ASCII Ids (O(1) check) need no
        # normalising.
        key = entity_id if entity_id.isascii() else unicodedata.normalize("NFC", entity_id)
        earlier = ids.add(key, line or 0)
        if earlier is not None:
            same = "" if key == entity_id else " (the same text once Unicode-normalised, NFC)"
            errors.add(
                Issue(
                    "duplicate-id",
                    f"the Id {entity_id!r} is a duplicate: it was first used on line {earlier} "
                    f"and is used again here{same}; results are matched to inputs by Id, so Ids "
                    "must be unique",
                    line=line,
                    entity_id=entity_id,
                )
            )
    fails = False
    for finding in check_entity(entity):
        fails = fails or finding.fails
        warnings.add(Issue(finding.code, finding.message, line=line, entity_id=entity.id))
    if fails:
        report.invalid_entity_count += 1
