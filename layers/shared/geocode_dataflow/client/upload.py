"""The body of a Create Job request: small uploads as they are, larger ones gzipped.

Microsoft's toolkit posts the feed as a raw gzip stream with ``Content-Type:
application/octet-stream`` and no ``Content-Encoding`` (§3.1); the service accepts compressed
data and applies its limits to the uncompressed size. Below ``GZIP_THRESHOLD`` compression saves
too little to matter, so small feeds go as ``application/xml`` / ``text/plain``.

The compressed body is spooled (memory up to ``SPOOL_MEMORY_BYTES``, then a temporary file), never
held whole in memory. Spooling rather than piping straight to the socket buys two things: a
``Content-Length`` instead of chunked transfer encoding (what the toolkit's .NET client sends;
chunked uploads were never documented as accepted), and a body that can be sent again when the
service refuses a create with 503 / 429 (see ``DataflowClient.create_job``).
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

GZIP_THRESHOLD = 64 * 1024
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

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> UploadBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare_upload(data: Any, input_format: str, *, threshold: int = GZIP_THRESHOLD) -> UploadBody:
    """Reads ``data`` (bytes, a binary file object or an iterable of bytes) into an ``UploadBody``.

    Data that is already gzip or zip (by its magic bytes) is sent as it is, as octet-stream.
    """
    chunks = _chunks(data)
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) > threshold:
            break
    else:
        small = bytes(head)
        if small.startswith((GZIP_MAGIC, ZIP_MAGIC)):
            return UploadBody(OCTET_STREAM, True, len(small), len(small), _data=small)
        return UploadBody(CONTENT_TYPES[input_format], False, len(small), len(small), _data=small)

    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - owned by UploadBody
    try:
        already_compressed = bytes(head[:4]).startswith((GZIP_MAGIC, ZIP_MAGIC))
        compressor = None if already_compressed else zlib.compressobj(6, zlib.DEFLATED, 31)
        source_length = 0
        for chunk in _prepend(bytes(head), chunks):
            source_length += len(chunk)
            spool.write(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            spool.write(compressor.flush())
        length = spool.tell()
    except BaseException:
        spool.close()
        raise
    return UploadBody(OCTET_STREAM, True, length, source_length, _spool=spool)


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


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
