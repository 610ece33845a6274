"""The body of a Create Job request: small uploads as they are, larger ones gzipped.

Microsoft's toolkit posts the feed as a raw gzip stream with ``Content-Type:
application/octet-stream`` and no ``Content-Encoding`` (§3.1); the service accepts compressed
data and applies its limits to the uncompressed size. Below ``GZIP_THRESHOLD`` compression saves
too little to matter, so small feeds go as ``application/xml`` / ``text/plain``.

The compressed body is spooled (memory up to ``SPOOL_MEMORY_BYTES``, then a temporary file), never
held whole in memory. Spooling rather than piping straight to the socket buys two things: a
``Content-Length`` instead of chunked transfer encoding (what the toolkit's .NET client sends;
chunked uploads were never documented as accepted), and a body that can be sent again when the
service refuses a create with 503 / 429 (see ``DataflowClient.create_job``). The spool can be
filled by a reader busy with the feed for another reason (``UploadSpool``): the pipeline
validates a file and spools its body in one read from S3.
"""

from __future__ import annotations

import io
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

GZIP_THRESHOLD = 64 * 1024
# Level 1, by measurement (tests/benchmarks/test_upload_bench.py, 200,000 varied entities, dev
# machine): level 1 compresses at 278 MB/s (XML) / 126 MB/s (csv) to 0.137 / 0.323 of the feed;
# level 6, the zlib default, at 121 / 43 MB/s to 0.106 / 0.267; level 9 at 66 / 11 MB/s for
# almost nothing more. The body crosses the internet once, but the Lambda's CPU is what is paid
# for, and a 512 MB Lambda has about 0.3 of a core: on a 300 MB csv feed level 6 costs 4.6 s
# more CPU than level 1 here (some 15 s in that Lambda) to save 1.7 s of sending at 10 MB/s,
# 0.3 s at 50 MB/s. Level 3 is hardly smaller and a third slower on csv.
GZIP_LEVEL = 1
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
_READ_SIZE = 1024 * 1024

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

CONTENT_TYPES = {
    "xml": "application/xml",
    "csv": "text/plain",
    "tab": "text/plain",
    "pipe": "text/plain",
}
OCTET_STREAM = "application/octet-stream"


class _SizedReader:
    """A read-only view of the spool that requests can size (``__len__``) and stream (``read``)."""

    def __init__(self, spool: IO[bytes], length: int) -> None:
        self._spool = spool
        self._length = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        return self._spool.read(size)

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self._spool.read(64 * 1024), b"")


class _SpoolView(io.RawIOBase):
    """The spooled bytes as a file of their own (its own position; closing it keeps the spool)."""

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._spool.seek(self._position)
        data = self._spool.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


@dataclass
class UploadBody:
    """A body ready to send, and to resend: ``payload()`` starts from the first byte each time."""

    content_type: str
    compressed: bool
    length: int
    source_length: int
    _data: bytes | None = None
    _spool: Any = None

    def payload(self) -> bytes | _SizedReader:
        if self._data is not None:
            return self._data
        self._spool.seek(0)
        return _SizedReader(self._spool, self.length)

    def reader(self) -> BinaryIO:
        """The body as stored (gzip when ``compressed``), to read it again without its source."""
        if self._data is not None:
            return io.BytesIO(self._data)
        return io.BufferedReader(_SpoolView(self._spool))

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> UploadBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UploadSpool:
    """Builds an ``UploadBody`` from chunks pushed in one at a time: ``write`` each, then
    ``finish``. A pass that reads the feed for another reason (the pipeline's validation) fills
    it on the way, so the feed is read once; ``prepare_upload`` does the same with chunks it
    pulls itself. The first ``threshold`` bytes decide: kept as they are when the feed ends
    there, else spooled, gzipped unless they already are gzip or zip."""

    def __init__(self, *, threshold: int = GZIP_THRESHOLD, level: int = GZIP_LEVEL) -> None:
        self._threshold = threshold
        self._level = level
        self._head = bytearray()
        self._spool: Any = None
        self._compressor: Any = None
        self.source_length = 0

    def write(self, chunk: bytes) -> None:
        self.source_length += len(chunk)
        if self._spool is not None:
            self._spool.write(self._compressor.compress(chunk) if self._compressor else chunk)
            return
        self._head += chunk
        if len(self._head) > self._threshold:
            self._start_spool()

    def _start_spool(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - closed by close() or the body
        head, self._head = bytes(self._head), bytearray()
        if not head.startswith((GZIP_MAGIC, ZIP_MAGIC)):
            self._compressor = zlib.compressobj(self._level, zlib.DEFLATED, 31)
        self._spool.write(self._compressor.compress(head) if self._compressor else head)

    def finish(self, input_format: str) -> UploadBody:
        """The body (which owns the spool from here on); ``input_format`` names a small one."""
        if self._spool is None:
            small = bytes(self._head)
            if small.startswith((GZIP_MAGIC, ZIP_MAGIC)):
                return UploadBody(OCTET_STREAM, True, len(small), len(small), _data=small)
            return UploadBody(
                CONTENT_TYPES[input_format], False, len(small), len(small), _data=small
            )
        spool, self._spool = self._spool, None
        try:
            if self._compressor:
                spool.write(self._compressor.flush())
            length = spool.tell()
        except BaseException:
            spool.close()
            raise
        return UploadBody(OCTET_STREAM, True, length, self.source_length, _spool=spool)

    def close(self) -> None:
        """Drop what was spooled (nothing to do once ``finish`` handed it to a body)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def prepare_upload(data: Any, input_format: str, *, threshold: int = GZIP_THRESHOLD) -> UploadBody:
    """Reads ``data`` (bytes, a binary file object or an iterable of bytes) into an ``UploadBody``.

    Data that is already gzip or zip (by its magic bytes) is sent as it is, as octet-stream.
    """
    spool = UploadSpool(threshold=threshold)
    try:
        for chunk in _chunks(data):
            spool.write(chunk)
        return spool.finish(input_format)
    finally:
        spool.close()


def _chunks(data: Any) -> Iterator[bytes]:
    if isinstance(data, str):
        raise TypeError("upload data must be bytes, a binary file or an iterable of bytes, not str")
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), _READ_SIZE):
            yield bytes(view[start : start + _READ_SIZE])
        return
    if hasattr(data, "read"):
        while True:
            chunk = data.read(_READ_SIZE)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError(
                    "upload data must be a binary file (opened with 'rb'), not a text file"
                )
            yield bytes(chunk)
    if isinstance(data, Iterable):
        for chunk in data:
            if isinstance(chunk, str) or not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"upload chunks must be bytes, got {type(chunk).__name__}")
            if chunk:
                yield bytes(chunk)
        return
    raise TypeError(
        f"cannot upload a {type(data).__name__}: pass bytes, a binary file or an iterable of bytes"
    )
