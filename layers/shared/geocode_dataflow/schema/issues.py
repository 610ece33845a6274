"""Issues found in a feed, and the error raised when one makes the file unreadable.

An ``Issue`` is a plain record (stable ``code`` slug plus a human message and a location) so
that validation reports, rejection documents and exceptions all carry the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from geocode_dataflow.errors import InvalidFeedError


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: ``code`` is a stable slug (e.g. ``duplicate-id``), ``message`` is for people.

    ``count`` is set when one issue stands for several identical ones (a remark repeated on
    every entity is reported once, at its first line, with how many times it occurred).
    """

    code: str
    message: str
    line: int | None = None
    entity_id: str | None = None
    column: int | None = None
    offset: int | None = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def where(self) -> str:
        """``line 7, column 3`` / ``byte 120`` / ``entity 'A1'``: the location for a message."""
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.offset is not None:
            parts.append(f"byte offset {self.offset}")
        if self.entity_id is not None:
            parts.append(f"entity {self.entity_id!r}")
        if self.count is not None:
            parts.append(f"{self.count:,} times, first here" if parts else f"{self.count:,} times")
        return ", ".join(parts)


class FeedError(InvalidFeedError):
    """The feed cannot be read as Data Schema v2.0 (encoding, structure, version, columns...).

    Subclasses the package's ``InvalidFeedError`` so that callers routing on the taxonomy in
    ``geocode_dataflow.errors`` treat it as permanent: retrying the same bytes cannot help.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        offset: int | None = None,
        entity_id: str | None = None,
    ) -> None:
        self.issue = Issue(
            code, message, line=line, entity_id=entity_id, column=column, offset=offset
        )
        where = self.issue.where()
        super().__init__(f"{message} ({where})" if where else message)

    @property
    def code(self) -> str:
        return self.issue.code

    @property
    def line(self) -> int | None:
        return self.issue.line

    @property
    def offset(self) -> int | None:
        return self.issue.offset

    @classmethod
    def from_issue(cls, issue: Issue) -> FeedError:
        return cls(
            issue.code,
            issue.message,
            line=issue.line,
            column=issue.column,
            offset=issue.offset,
            entity_id=issue.entity_id,
        )


# Codes of remarks about the file's structure that a file may repeat on every entity (the
# same undefined attribute on each <GeocodeEntity>): a report keeps each distinct one once,
# with a count, instead of one line per occurrence.
REPEATING_CODES = frozenset(
    {"unknown-attribute", "unknown-element", "missing-attribute", "duplicate-element"}
)

# Called by the readers for problems they can step over: ``is_error`` True means the file is
# not valid v2.0 (a strict caller raises), False means a remark worth a warning.
IssueHandler = Callable[[Issue, bool], None]


def ignore_issues(issue: Issue, is_error: bool) -> None:
    """An ``IssueHandler`` for files read as they are: an input validated before it was sent,
    a provider's result sets (their remarks do not stop a join)."""


def raise_on_error(issue: Issue, is_error: bool) -> None:
    """The default handler: errors stop the read, remarks are ignored."""
    if is_error:
        raise FeedError.from_issue(issue)


def too_many_elements(limit: int, line: int | None) -> FeedError:
    """The error for a file past its element budget (``Limits.max_elements``), in any format."""
    return FeedError(
        "too-many-elements",
        f"the file has more than {limit:,} elements (XML elements, or objects in the JSON cells "
        "of text rows); reading stopped there: a geocode feed has a few per entity, so the file "
        "is probably corrupt or hostile",
        line=line,
    )
