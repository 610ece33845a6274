"""``validate_feed``: is this file worth sending, and which entities will the service fail?

Two levels, as the service has them: file-level errors (the job would be refused or the file
misread: nothing should be sent) and entity-level warnings (the file is fine; the service fails
those entities individually). Memory stays flat except for the set of Ids needed to find
duplicates, which is inherent; it holds a 64-bit hash and a line number per Id (~12 bytes),
never the rows.
"""

from __future__ import annotations

import gc
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

from geocode_dataflow.schema.checks import check_entity
from geocode_dataflow.schema.detect import check_format, format_from_name
from geocode_dataflow.schema.encoding import DecodedSource, Source, source_name
from geocode_dataflow.schema.issues import REPEATING_CODES, FeedError, Issue
from geocode_dataflow.schema.model import GeocodeEntity
from geocode_dataflow.schema.plain import (
    PLAIN_TABLE_CODES,
    TABLE_FORMAT,
    XLSX_FORMAT,
    TableMapping,
)
from geocode_dataflow.schema.reader import FeedReader, is_xlsx, open_decoded, open_xlsx
from geocode_dataflow.schema.screen import PlainRun

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


class IdIndex(dict[int, int]):
    """The entity Ids seen so far, for duplicate detection: hash of the Id -> line of its first
    use, never the Id itself (~100 bytes per Id: a dict slot and two ints).

    A plain dict, filled in C (``setdefault``) from the validator's loop. Two different Ids
    colliding on 64 bits (odds ~1e-9 for 200,000 Ids) would be reported as a duplicate; that
    is accepted.
    """

    def add(self, entity_id: str, line: int) -> int | None:
        """Remember ``entity_id``; return the line of an earlier occurrence, if any."""
        size = len(self)
        earlier = self.setdefault(hash(entity_id), line)
        return None if len(self) > size else earlier

    @property
    def nbytes(self) -> int:
        """Memory held by the index: the table and its keys and values."""
        if not self:
            return sys.getsizeof(self)
        key, value = next(iter(self.items()))
        return sys.getsizeof(self) + len(self) * (sys.getsizeof(key) + sys.getsizeof(value))


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
    # Data Schema "2.0" or "1.0" (schema.v1); None for a plain table or an unreadable file.
    schema_version: str | None = None
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
            "schema_version": self.schema_version,
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
            for part in (
                self.format,
                f"Data Schema {self.schema_version}" if self.schema_version else None,
                self.encoding,
                "gzip" if self.compressed else None,
            )
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
    with _collector_paused():
        return _validate(source, filename, fmt, limits, max_issues, mapping)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Validation makes millions of short-lived rows, tuples and dicts that never form cycles
    (reference counting frees each); the cyclic collector would walk the live ones thousands of
    times (~15% of a csv file's validation). Paused for the call, restored after; it is
    process-wide, so a concurrent validation elsewhere may find it paused, or re-enabled early,
    which changes only its speed."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _validate(
    source: Source,
    filename: str | None,
    fmt: str | None,
    limits: Limits | None,
    max_issues: int,
    mapping: TableMapping | None,
) -> ValidationReport:
    limits = limits or Limits()
    filename = source_name(source, filename)
    errors, warnings = IssueList(max_issues), IssueList(max_issues)
    report = ValidationReport(filename=filename, limits=limits)
    report.format = check_format(fmt) or _name_format(filename)

    def on_issue(issue: Issue, is_error: bool) -> None:
        (errors if is_error else warnings).add(issue)

    decoded = None
    reader: FeedReader | None = None
    tally = _Tally(limits.max_entities, report, errors, warnings)
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
            for item in reader.scan():
                if type(item) is PlainRun:
                    if not tally.plain(item):
                        break
                elif not tally.one(*item):
                    break
    except FeedError as exc:
        errors.add(exc.issue, keep=True)
        if exc.code in PLAIN_TABLE_CODES:
            report.format = XLSX_FORMAT if workbook else TABLE_FORMAT
    finally:
        if reader is not None and reader.table is None:
            report.schema_version = reader.schema_version
        report.entity_count = tally.count
        report.geocode_count = tally.kinds["geocode"]
        report.reverse_count = tally.kinds["reverse"]
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


class _Tally:
    """Counts the entities ``FeedReader.scan`` gives, indexes their Ids, and checks those the
    screen did not vouch for; ``one`` / ``plain`` return False at the entity limit."""

    def __init__(
        self, max_entities: int, report: ValidationReport, errors: IssueList, warnings: IssueList
    ) -> None:
        self.count = 0
        self.kinds: Counter[str] = Counter()
        self.ids = IdIndex()
        self._max_entities = max_entities
        self._report = report
        self._errors = errors
        self._warnings = warnings

    def one(
        self, line: int | None, entity_id: str | None, kind: str, entity: GeocodeEntity | None
    ) -> bool:
        if self.count == self._max_entities:
            # Nothing read past here can make the file acceptable: stop now rather than spend
            # time (and Id-index memory) on the rest.
            self._errors.add(too_many_entities(self._max_entities, line), keep=True)
            return False
        self.count += 1
        self.kinds[kind] += 1
        _check_id(line, entity_id, self.ids, self._errors)
        if entity is not None:
            _check(line, entity_id, entity, self._report, self._warnings)
        return True

    def plain(self, run: PlainRun) -> bool:
        """A run of plain entities: their Ids go into the index at once (in C) unless the run
        holds a duplicate, a non-ASCII Id (NFC) or the entity limit, handled one by one."""
        ids = run.ids
        if self.count + len(ids) <= self._max_entities and "".join(ids).isascii():
            fresh = dict(zip(map(hash, ids), run.lines, strict=True))
            if len(fresh) == len(ids) and fresh.keys().isdisjoint(self.ids.keys()):
                self.ids.update(fresh)
                self.count += len(ids)
                self.kinds.update(run.kinds)
                return True
        return all(map(self.one, run.lines, ids, run.kinds, repeat(None)))


def _check_id(line: int | None, entity_id: str | None, ids: IdIndex, errors: IssueList) -> None:
    """Index one entity's Id, reporting a missing or duplicate one."""
    if entity_id is None:
        errors.add(
            Issue("missing-id", "the entity has no Id (every entity needs a unique Id)", line=line)
        )
        return
    # Ids that are the same text in Unicode's terms (NFC: canonically equivalent, e.g. 'é' as
    # one code point or as 'e' + combining accent) look identical and any tool on the way may
    # normalise one into the other, so they are duplicates. NFKC would go further ('Ⅸ' = 'IX',
    # '①' = '1'): different text, left alone. ASCII Ids (O(1) check) need no normalising.
    key = entity_id if entity_id.isascii() else unicodedata.normalize("NFC", entity_id)
    earlier = ids.add(key, line or 0)
    if earlier is not None:
        _report_duplicate(entity_id, key, earlier, line, errors)


def _report_duplicate(
    entity_id: str, key: str, earlier: int, line: int | None, errors: IssueList
) -> None:
    same = "" if key == entity_id else " (the same text once Unicode-normalised, NFC)"
    errors.add(
        Issue(
            "duplicate-id",
            f"the Id {entity_id!r} is a duplicate: it was first used on line {earlier} and is "
            f"used again here{same}; results are matched to inputs by Id, so Ids must be unique",
            line=line,
            entity_id=entity_id,
        )
    )


def _check(
    line: int | None,
    entity_id: str | None,
    entity: GeocodeEntity,
    report: ValidationReport,
    warnings: IssueList,
) -> None:
    """An entity the screen did not vouch for: ``check_entity``'s findings become warnings."""
    fails = False
    for finding in check_entity(entity):
        fails = fails or finding.fails
        warnings.add(Issue(finding.code, finding.message, line=line, entity_id=entity_id))
    if fails:
        report.invalid_entity_count += 1
