"""The Bing upload body, spooled by the read that validates the file: one S3 read.

``submit`` passes each block the validator reads to a ``BodySpool``; when the validated file
goes to the service exactly as it was read, the provider sends the spool (gzipped, with a
Content-Length, resendable on 503 / 429) instead of reading the object again.
"""

from __future__ import annotations

import codecs
from typing import Any

from geocode_dataflow.client.upload import GZIP_MAGIC, ZIP_MAGIC, UploadBody, UploadSpool
from geocode_dataflow.schema import FORMATS, ValidationReport

# Bytes that mean the service is not sent the file as it was read: gzip, a workbook, a byte
# order mark (UTF-8, UTF-16, UTF-32), UTF-16 without one. ``utf8_chunks`` rewrites those.
_NOT_AS_READ = (GZIP_MAGIC, ZIP_MAGIC, codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SNIFF_BYTES = 4096
_DRAIN_BYTES = 1 << 20


class BodySpool:
    """The Bing upload body, spooled from the read that validates the file (one S3 read).

    Each block the validator reads also goes into an ``UploadSpool``, so the body is gzipped
    and ready when validation ends. Only a file the service gets exactly as it was read can
    use it: uncompressed UTF-8 without a BOM, Data Schema v2.0 (XML or text; a text header
    without response columns is rewritten from the spool by the provider, still without S3).
    The first bytes rule out what is gunzipped, transcoded or converted (a plain table or a
    workbook), which stops the spooling there; the validation report decides in the end.
    """

    def __init__(self) -> None:
        self._spool: UploadSpool | None = UploadSpool()
        self._head = b""
        self._body: UploadBody | None = None

    def write(self, block: bytes) -> None:
        if self._spool is None:
            return
        self._spool.write(block)
        if len(self._head) < _SNIFF_BYTES:
            self._head += block[: _SNIFF_BYTES - len(self._head)]
            if _sent_as_read(self._head) is False:
                self.close()

    def drain(self, stream: Any) -> None:
        """Read what the validator left unread (after the end of a valid file), so that the
        body is the whole object, as a second read would have sent it."""
        while self._spool is not None and stream.read(_DRAIN_BYTES):
            pass

    def body(self, report: ValidationReport, size: int | None) -> UploadBody | None:
        """The spooled body, when the validated file goes to the service as it was read."""
        spool, self._spool = self._spool, None
        if spool is None:
            return None
        if not (
            report.valid
            and report.format in FORMATS
            and report.encoding == "utf-8"
            and not report.compressed
            and size is not None
            and spool.source_length == size
        ):
            spool.close()
            return None
        self._body = spool.finish(report.format)
        return self._body

    def close(self) -> None:
        for held in (self._spool, self._body):
            if held is not None:
                held.close()
        self._spool = self._body = None

    def __enter__(self) -> BodySpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sent_as_read(head: bytes) -> bool | None:
    """Whether a file starting with ``head`` may go to the service as read (None: not known
    yet). A first hint only; ``BodySpool.body`` checks the validation report."""
    if len(head) < 4:
        return None
    if head.startswith(_NOT_AS_READ) or b"\x00" in head[:2]:
        return False
    if head.lstrip().startswith(b"<"):
        return True  # XML
    first_line, ended, _ = head.partition(b"\n")
    if not ended and len(head) < _SNIFF_BYTES:
        return None
    # The version line of v2.0 text; without it, a plain table (converted before sending).
    return b"bing spatial data services" in first_line.lower()
