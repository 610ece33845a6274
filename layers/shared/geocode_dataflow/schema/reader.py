"""``open_feed``: one streaming reader for all four formats, whatever the encoding/compression.

Opening reads only the prologue (text: version and header lines; XML: nothing beyond the first
line) so that ``format``/``header``/``columns`` are known up front; entities are then produced
one at a time while iterating, in constant memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import TracebackType

from geocode_dataflow.schema import text as text_format
from geocode_dataflow.schema.detect import (
    check_format,
    check_text_version,
    format_from_name,
    looks_like_xml,
    text_format_from_header,
    text_version,
)
from geocode_dataflow.schema.encoding import DecodedSource, Source, source_name
from geocode_dataflow.schema.issues import FeedError, Issue, IssueHandler, raise_on_error
from geocode_dataflow.schema.model import GeocodeEntity
from geocode_dataflow.schema.xmlfeed import iter_xml_entities

_PROLOGUE_LIMIT = 1 << 20  # longest version/header line we accept: a header is ~2 KiB
# Labels of encodings with 2- or 4-byte units (dashes removed), as parsers name them.
_WIDE_ENCODINGS = frozenset(
    {"utf16", "utf16le", "utf16be", "utf32", "utf32le", "utf32be", "ucs2", "ucs4", "unicode"}
)
_XML_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']+)["']""")


class FeedReader:
    """Context manager and single-pass iterator of the ``GeocodeEntity`` items of a feed.

    Attributes: ``format`` (xml/csv/tab/pipe), ``encoding`` (utf-8, utf-8-bom, utf-16-le,
    utf-16-be), ``compressed`` (gzip), and for text feeds ``version_line`` (as sent),
    ``header`` (tokens as sent, untrimmed) and ``columns`` (canonical names, same order; ``""``
    for an empty padding token). Iteration raises ``FeedError`` on file-level problems.
    """

    def __init__(
        self,
        decoded: DecodedSource,
        fmt: str,
        *,
        prefix: str = "",
        version_line: str | None = None,
        header: list[str] | None = None,
        columns: list[str] | None = None,
        on_issue: IssueHandler = raise_on_error,
        max_elements: int | None = None,
    ) -> None:
        self._decoded = decoded
        self._max_elements = max_elements
        self.format = fmt
        self.encoding = decoded.encoding
        self.compressed = decoded.compressed
        self.version_line = version_line
        self.header = header
        self.columns = columns
        self._prefix = prefix
        self._on_issue = on_issue
        self._started = False

    @property
    def utf8_bytes(self) -> int:
        """Uncompressed UTF-8 bytes read so far (the whole file once iteration has finished)."""
        return self._decoded.utf8.utf8_bytes

    def __iter__(self) -> Iterator[GeocodeEntity]:
        if self._started:
            raise RuntimeError("a FeedReader can be iterated only once")
        self._started = True
        text = self._decoded.text()
        if self.format == "xml":
            return iter_xml_entities(
                text, self._on_issue, self._prefix, max_elements=self._max_elements
            )
        assert self.columns is not None  # noqa: S101 - set for every text feed by open_feed
        return text_format.iter_entities(
            text,
            self.format,
            self.columns,
            first_line=3,
            on_issue=self._on_issue,
            max_elements=self._max_elements,
        )

    def close(self) -> None:
        self._decoded.close()

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_feed(
    source: Source,
    filename: str | None = None,
    *,
    fmt: str | None = None,
    on_issue: IssueHandler | None = None,
    max_bytes: int | None = None,
    max_elements: int | None = None,
) -> FeedReader:
    """Open a Data Schema v2.0 feed from a path, bytes or a binary stream (not closed by us).

    Detects gzip (magic bytes), the encoding (UTF-8 with or without BOM, UTF-16 with BOM) and
    the format: content first (``<`` -> XML; the version line + the header's delimiter ->
    text), then the file name (``.xml .csv .tab .tsv .txt .pipe`` optionally ``.gz``; by
    default the path of a path source); ``fmt`` overrides both. ``on_issue(issue, is_error)`` receives problems the reader can step over
    (default: raise errors, ignore remarks); ``max_bytes`` stops reading past that much
    uncompressed UTF-8, ``max_elements`` past that many elements (see ``Limits``). Raises
    ``FeedError`` when the prologue is unreadable.
    """
    explicit = check_format(fmt)
    return open_decoded(
        DecodedSource(source, max_bytes=max_bytes),
        source_name(source, filename),
        explicit,
        on_issue,
        max_elements=max_elements,
    )


def open_decoded(
    decoded: DecodedSource,
    filename: str | None,
    fmt: str | None,
    on_issue: IssueHandler | None = None,
    *,
    max_elements: int | None = None,
) -> FeedReader:
    """``open_feed`` on a source already opened (closed here if the prologue is unreadable)."""
    try:
        return _open(decoded, filename, check_format(fmt), on_issue or raise_on_error, max_elements)
    except BaseException:
        decoded.close()
        raise


def _open(
    decoded: DecodedSource,
    filename: str | None,
    explicit: str | None,
    on_issue: IssueHandler,
    max_elements: int | None,
) -> FeedReader:
    text = decoded.text()
    first = text.readline(_PROLOGUE_LIMIT)
    prefix = first
    if not first.strip():
        # Leading blank lines: fine for XML, never for text (the version line comes first).
        prefix += text.read(_PROLOGUE_LIMIT)
        if not prefix.strip():
            raise FeedError("empty-file", "the file is empty")
    by_name = format_from_name(filename)
    is_xml = explicit == "xml" or (
        explicit is None
        and (looks_like_xml(prefix) or (by_name == "xml" and text_version(first) is None))
    )
    if is_xml:
        _check_declared_encoding(prefix, decoded.encoding, on_issue)
        return FeedReader(
            decoded, "xml", prefix=prefix, on_issue=on_issue, max_elements=max_elements
        )

    check_text_version(first)
    header_line = text.readline(_PROLOGUE_LIMIT)
    if not header_line.strip():
        raise FeedError(
            "missing-header",
            "the second line must be the column header line (e.g. 'Id,GeocodeRequest/Query')",
            line=2,
        )
    if not header_line.endswith(("\n", "\r")) and len(header_line) >= _PROLOGUE_LIMIT:
        raise FeedError("malformed-header", "the header line is implausibly long", line=2)
    fmt = explicit or text_format_from_header(header_line, by_name)
    header, columns = text_format.parse_header(header_line, fmt)
    return FeedReader(
        decoded,
        fmt,
        version_line=first.rstrip("\r\n"),
        header=header,
        columns=columns,
        on_issue=on_issue,
        max_elements=max_elements,
    )


def _check_declared_encoding(prefix: str, encoding: str, on_issue: IssueHandler) -> None:
    """The bytes decide how we read the file; a declaration saying otherwise misleads others.

    A UTF-8 file declaring e.g. ISO-8859-1 is read as UTF-8 here, but a reader that believes
    the declaration (possibly the service) would garble every non-ASCII character: a remark.
    A UTF-8 file declaring UTF-16 is an error: XML requires a byte-order mark on UTF-16, and a
    parser that believes the declaration refuses the file (.NET: "There is no Unicode byte
    order mark. Cannot switch to Unicode"). A UTF-16 file is sent as UTF-8, its declaration
    rewritten (``utf8_chunks``), so any UTF-16 label on it is fine.
    """
    match = _XML_ENCODING.match(prefix)
    if match is None:
        return
    declared = match.group(1).strip().lower().replace("_", "-")
    family = "utf-16" if encoding.startswith("utf-16") else "utf-8"
    if declared.startswith(family) or (
        family == "utf-8" and declared in ("utf8", "us-ascii", "ascii")
    ):
        return
    if family == "utf-8" and declared.replace("-", "") in _WIDE_ENCODINGS:
        on_issue(
            Issue(
                "declared-encoding",
                f"the XML declaration says encoding={match.group(1)!r} but the file is UTF-8 "
                'without a byte-order mark; XML parsers refuse that: declare encoding="utf-8"',
                line=1,
            ),
            True,
        )
        return
    on_issue(
        Issue(
            "declared-encoding",
            f"the XML declaration says encoding={match.group(1)!r} but the file is "
            f'{family.upper()}; declare encoding="utf-8" (the service accepts UTF-8 only)',
            line=1,
        ),
        False,
    )
