"""Getting an upload onto disk: the request body (or a dataLocation download, see
``data_location``), unwrapped from gzip / zip.

Uploads never live only in memory: they are streamed into the emulator's work directory, and
the uncompressed size is capped while unpacking so a small bomb cannot fill the disk.
"""

from __future__ import annotations

import gzip
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


class UploadError(Exception):
    """The upload cannot be used; ``str()`` is the errorDetails text of the 400.

    ``detail`` holds a library's own words about the bytes (they may quote them): left out,
    as ``message`` alone, when the bytes were fetched from a dataLocation.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message}: {self.detail}" if self.detail else self.message


def new_file(directory: Path, suffix: str) -> tuple[Path, BinaryIO]:
    handle = tempfile.NamedTemporaryFile(dir=directory, suffix=suffix, delete=False)  # noqa: SIM115
    return Path(handle.name), handle  # type: ignore[return-value]


def too_large(limit: int) -> UploadError:
    return UploadError(
        f"The uploaded data is larger than the limit of {limit:,} bytes "
        "(the limit applies to the uncompressed data)."
    )


def copy_capped(source: BinaryIO, sink: BinaryIO, limit: int) -> int:
    written = 0
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            return written
        written += len(chunk)
        if written > limit:
            raise too_large(limit)
        sink.write(chunk)


def spool_body(stream: BinaryIO, directory: Path, *, limit: int) -> Path:
    """Write the request body (waitress has already de-chunked it) to a file."""
    path, handle = new_file(directory, ".body")
    try:
        with handle:
            copy_capped(stream, handle, limit)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def unpack(path: Path, directory: Path, *, limit: int, content_encoding: str | None = None) -> Path:
    """The plain data of an upload: gunzipped (magic 1f8b or ``Content-Encoding: gzip``), or
    the first file of a zip archive, or the file itself. Consumes ``path`` when it unpacks."""
    declared_gzip = (content_encoding or "").strip().lower() in ("gzip", "x-gzip")
    for _ in range(3):  # a zip inside a gzip is as deep as anyone goes
        with path.open("rb") as probe:
            magic = probe.read(4)
        if magic.startswith(GZIP_MAGIC):
            path = _replace(path, _gunzip(path, directory, limit))
        elif magic.startswith(ZIP_MAGIC):
            path = _replace(path, _unzip_first(path, directory, limit))
        elif declared_gzip:
            raise UploadError(
                "The request says Content-Encoding: gzip but the body is not gzip data."
            )
        else:
            break
        declared_gzip = False
    if path.stat().st_size > limit:
        raise too_large(limit)
    return path


def _replace(old: Path, new: Path) -> Path:
    old.unlink(missing_ok=True)
    return new


def _gunzip(path: Path, directory: Path, limit: int) -> Path:
    out, handle = new_file(directory, ".data")
    try:
        with handle, gzip.open(path, "rb") as source:
            copy_capped(source, handle, limit)
    except (OSError, EOFError, zlib.error) as exc:
        out.unlink(missing_ok=True)
        raise UploadError("The gzip-compressed data is corrupt or truncated", str(exc)) from exc
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


def _unzip_first(path: Path, directory: Path, limit: int) -> Path:
    out, handle = new_file(directory, ".data")
    try:
        with handle, zipfile.ZipFile(path) as archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            if not entries:
                raise UploadError("The zip archive contains no file.")
            if entries[0].file_size > limit:
                raise too_large(limit)
            with archive.open(entries[0]) as source:
                copy_capped(source, handle, limit)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        out.unlink(missing_ok=True)
        raise UploadError("The zip archive is corrupt or unsupported", str(exc)) from exc
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


def discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


__all__ = ["UploadError", "copy_capped", "discard", "new_file", "spool_body", "too_large", "unpack"]
