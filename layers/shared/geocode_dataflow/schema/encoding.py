"""Bytes in, validated UTF-8 out: gunzip, byte-order marks, UTF-16 transcoding, streaming.

The service accepts UTF-8 only, but spreadsheets save "Unicode Text" as UTF-16 with a BOM and
people gzip large files; both are turned into the UTF-8 the service wants, chunk by chunk, so
that memory stays flat whatever the file size. Anything else is refused with the byte offset
(in the uncompressed stream) and line of the first byte that does not decode.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from geocode_dataflow.schema.issues import FeedError

Source = BinaryIO | str | os.PathLike[str] | bytes

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_CHUNK = 1 << 16

# Detected encoding label -> (BOM bytes, Python codec of the rest).
ENCODINGS: dict[str, tuple[bytes, str]] = {
    "utf-8": (b"", "utf-8"),
    "utf-8-bom": (codecs.BOM_UTF8, "utf-8"),
    "utf-16-le": (codecs.BOM_UTF16_LE, "utf-16-le"),
    "utf-16-be": (codecs.BOM_UTF16_BE, "utf-16-be"),
}


def source_name(source: Source, filename: str | None = None) -> str | None:
    """``filename`` if given, else the path of a path source: the name that helps decide the
    format (a one-column pipe file reads the same as csv), so a file validated by path and the
    same bytes validated as a stream with their name get the same answer."""
    if filename is not None:
        return filename
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return None


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes unless EOF comes first (raw and network streams return short reads)."""
    parts, got = [], 0
    while got < size:
        block = stream.read(size - got)
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


class _Replay(io.RawIOBase):
    """A stream that first replays bytes already peeked from ``stream``, then continues it.

    Lets detection look at the first bytes of non-seekable sources (S3 bodies, sockets).
    """

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head.nbytes:
            count = min(len(buffer), self._head.nbytes)
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        block = self._stream.read(len(buffer))
        if not block:
            return 0
        buffer[: len(block)] = block
        return len(block)


class Utf8Stream(io.RawIOBase):
    """Validated UTF-8 bytes (BOM removed) from a decompressed byte stream in ``encoding``.

    UTF-8 input is checked with an incremental decoder and passed through unchanged; UTF-16 is
    transcoded. ``utf8_bytes`` counts what has been produced, so size limits apply to the
    uncompressed UTF-8 the service will see. Raises ``FeedError`` (``undecodable``) with the
    offset and line of the first bad byte, and ``too-large`` past ``max_bytes``.
    """

    def __init__(
        self,
        raw: BinaryIO,
        encoding: str,
        *,
        max_bytes: int | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        bom, codec = ENCODINGS[encoding]
        self._raw = raw
        self._encoding = encoding
        self._passthrough = codec == "utf-8"
        self._decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        self._consumed = len(bom)  # source bytes before the current chunk (BOM already skipped)
        self._lines = 0  # line ends (LF, CR or CRLF) produced so far, for error messages
        self._after_cr = False  # the last chunk ended with CR: a LF starting the next one pairs
        self._pending = b""  # transcoded bytes not yet handed out
        self._eof = False
        self._max_bytes = max_bytes
        self._chunk_size = chunk_size
        self.utf8_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            self._pending = self._next_block()
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _next_block(self) -> bytes:
        block = _gunzip_guard(self._raw.read, self._chunk_size)
        final = not block
        held = len(self._decoder.getstate()[0])  # bytes the decoder kept from the last chunk
        try:
            text = self._decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            offset = self._consumed - held + exc.start
            good = exc.object[: exc.start].decode(exc.encoding, "replace")
            line = self._lines + _line_ends(good, self._after_cr) + 1
            raise FeedError(
                "undecodable",
                f"the file is not valid {self._label()}: byte 0x{exc.object[exc.start]:02x} cannot "
                "be decoded. Save it as UTF-8 (the service accepts UTF-8 only; UTF-16 needs a BOM)",
                offset=offset,
                line=line,
            ) from exc
        self._consumed += len(block)
        if final:
            self._eof = True
        out = block if self._passthrough else text.encode("utf-8")
        if text:
            self._lines += _line_ends(text, self._after_cr)
            self._after_cr = text[-1] == "\r"
        self.utf8_bytes += len(out)
        if self._max_bytes is not None and self.utf8_bytes > self._max_bytes:
            raise FeedError(
                "too-large",
                f"the file is larger than {self._max_bytes:,} bytes of uncompressed UTF-8 "
                "(the service's limit applies to the uncompressed size)",
            )
        return out

    def _label(self) -> str:
        return {
            "utf-8": "UTF-8",
            "utf-8-bom": "UTF-8",
            "utf-16-le": "UTF-16",
            "utf-16-be": "UTF-16",
        }[self._encoding]


def _line_ends(text: str, after_cr: bool) -> int:
    """Line ends in ``text``, counted as the readers count them: LF, CR and CRLF each end one
    line. ``after_cr``: the text before ended with CR, so a LF at the start completes a CRLF."""
    ends = text.count("\n")
    if "\r" in text:  # (a search at memory speed: most files end lines with LF alone)
        ends += text.count("\r") - text.count("\r\n")
    return ends - 1 if after_cr and text.startswith("\n") else ends


def _gunzip_guard(read: Callable[[int], bytes], size: int) -> bytes:
    """``read(size)`` turning the ways a broken gzip stream fails into one ``FeedError``."""
    try:
        return read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FeedError("bad-gzip", f"the gzip data is corrupt or truncated: {exc}") from exc


class DecodedSource:
    """An opened feed source: decompressed, encoding detected, readable as UTF-8 bytes or text.

    Owns the file it opened (paths) but never closes a stream the caller passed in.
    """

    def __init__(
        self, source: Source, *, max_bytes: int | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> None:
        self._owned: BinaryIO | None = None
        self._gzip: gzip.GzipFile | None = None
        self._buffered: io.BufferedReader | None = None
        self._text: io.TextIOWrapper | None = None
        if isinstance(source, bytes):
            stream: BinaryIO = io.BytesIO(source)
        elif isinstance(source, (str, os.PathLike)):
            stream = self._owned = open(source, "rb")  # noqa: SIM115 - closed in close()
        else:
            stream = source
        try:
            head = _read_up_to(stream, 4)
            self.compressed = head[:2] == GZIP_MAGIC
            if self.compressed:
                gz = self._gzip = gzip.GzipFile(fileobj=_Replay(head, stream), mode="rb")
                stream = gz  # type: ignore[assignment]
                head = _gunzip_guard(lambda n: _read_up_to(gz, n), 4)  # type: ignore[arg-type]
            self.encoding = _detect_encoding(head)
            bom = ENCODINGS[self.encoding][0]
            body = _Replay(head[len(bom) :], stream)
            self.utf8 = Utf8Stream(body, self.encoding, max_bytes=max_bytes, chunk_size=chunk_size)  # type: ignore[arg-type]
        except BaseException:
            self.close()
            raise
        self._buffered = io.BufferedReader(self.utf8, buffer_size=chunk_size)

    @property
    def binary(self) -> io.BufferedReader:
        assert self._buffered is not None  # noqa: S101 - set by __init__
        return self._buffered

    def text(self) -> io.TextIOWrapper:
        """The content as text; ``newline=''`` keeps line ends as sent, as the csv module wants."""
        if self._text is None:
            self._text = io.TextIOWrapper(self.binary, encoding="utf-8", newline="")
        return self._text

    def close(self) -> None:
        """Release our wrappers; none of them closes the caller's stream (GzipFile and
        RawIOBase never close what they were given), only a file we opened ourselves."""
        for wrapper in (self._text, self._buffered, self._gzip, self._owned):
            if wrapper is not None:
                wrapper.close()
        self._text = self._buffered = self._gzip = self._owned = None


def _detect_encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise FeedError("undecodable", "the file is UTF-32; save it as UTF-8", offset=0, line=1)
    for label in ("utf-8-bom", "utf-16-le", "utf-16-be"):
        if head.startswith(ENCODINGS[label][0]):
            return label
    if len(head) >= 2 and (head[0] == 0 or head[1] == 0):
        raise FeedError(
            "undecodable",
            "the file looks like UTF-16 without a byte-order mark; save it as UTF-8 "
            "(or UTF-16 with a BOM)",
            offset=0 if head[0] == 0 else 1,
            line=1,
        )
    return "utf-8"


def utf8_chunks(
    source: Source, filename: str | None = None, chunk_size: int = 1 << 20
) -> Iterator[bytes]:
    """The file's content as UTF-8 bytes, gunzipped and transcoded, BOM removed: what gets
    uploaded to the service. ``filename`` is accepted for symmetry with ``open_feed``; the
    content alone decides. An XML declaration naming UTF-16 is rewritten to say UTF-8, since
    the bytes no longer are UTF-16."""
    del filename
    decoded = DecodedSource(source, chunk_size=chunk_size)
    try:
        first = True
        while True:
            block = decoded.binary.read(chunk_size)
            if not block:
                break
            if first and decoded.encoding.startswith("utf-16"):
                block = _relabel_xml_declaration(block)
            first = False
            yield block
    finally:
        decoded.close()


def _relabel_xml_declaration(block: bytes) -> bytes:
    if not block.startswith(b"<?xml"):
        return block
    end = block.find(b"?>")
    if end < 0:
        return block
    declaration = block[: end + 2]
    for quote in (b'"', b"'"):
        for name in (b"utf-16", b"UTF-16", b"utf-16le", b"UTF-16LE", b"utf-16be", b"UTF-16BE"):
            declaration = declaration.replace(
                b"encoding=" + quote + name + quote, b'encoding="utf-8"'
            )
    return declaration + block[end + 2 :]
