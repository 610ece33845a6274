"""S3 access for the pipeline: stream an input object, stream a result set in, write JSON.

An input can be streamed to two consumers at once (``open(..., copy_to=...)``): the submit
validates a file and spools its upload body in the same read.

Result sets go through boto3's transfer manager as a multipart upload that is completed only
when the whole stream has been read, so a download that dies half way leaves no object behind
(the bucket's lifecycle rule aborts the orphaned parts).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MAX_KEY_BYTES = 1024  # S3's limit on an object key, in UTF-8 bytes
# Room kept for the longest file name written in a job's folder ("rejection.json",
# "results.geojson", "succeeded.xml", ...).
_FILE_NAME_ROOM = 64


class KeyTooLongError(ValueError):
    """An object key over S3's 1,024-byte limit (which moto does not enforce)."""


class WriteConflictError(Exception):
    """A conditional write found the object written (or created) since it was read."""


# S3's answers to a conditional write whose condition failed: the object changed
# (PreconditionFailed, 412), or another conditional write to it is under way (409).
_CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_MISSING = frozenset({"NoSuchKey", "404"})


def job_folder(prefix: str, name: str, job_id: str) -> str:
    """``<prefix><name>/<job id>/``, the folder of one job's outputs, always short enough.

    S3 takes keys of up to 1,024 bytes and so does the input's name: a long name is cut (at a
    character boundary, marked with ``~``) so that every key in the folder fits. The job id
    keeps the folder unique.
    """
    fixed = len(prefix.encode()) + len(job_id.encode()) + 2 + _FILE_NAME_ROOM
    room = MAX_KEY_BYTES - fixed
    encoded = name.encode("utf-8")
    if len(encoded) > room:
        name = encoded[: room - 1].decode("utf-8", "ignore") + "~"
    return f"{prefix}{name}/{job_id}/"


def _checked(key: str) -> str:
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError(f"object key of {size} bytes is over S3's {MAX_KEY_BYTES}-byte limit")
    return key


_TRANSFER = TransferConfig(
    multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=4
)


class ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (what upload_fileobj wants)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


class CopyingReader(io.RawIOBase):
    """A stream that hands every block it reads to ``copy_to`` as well (one read, two uses)."""

    def __init__(self, stream: Any, copy_to: Callable[[bytes], None]) -> None:
        self._stream = stream
        self._copy_to = copy_to

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        block = self._stream.read(len(buffer))
        if block:
            self._copy_to(block)
            buffer[: len(block)] = block
        return len(block)

    def close(self) -> None:
        self._stream.close()
        super().close()


class ObjectStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    def head(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        kwargs = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        return self._s3.head_object(**kwargs)

    def open(
        self,
        key: str,
        version_id: str | None = None,
        *,
        copy_to: Callable[[bytes], None] | None = None,
    ) -> BinaryIO:
        """The object's body as a stream (never read whole into memory); with ``copy_to``,
        every block read is also passed to it."""
        kwargs = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        body = self._s3.get_object(**kwargs)["Body"]
        return CopyingReader(body, copy_to) if copy_to else body  # type: ignore[return-value]

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        reader = ChunkReader(chunks)
        self._s3.upload_fileobj(
            io.BufferedReader(reader, buffer_size=1024 * 1024),
            self.bucket,
            _checked(key),
            ExtraArgs={"ContentType": content_type},
            Config=_TRANSFER,
        )
        return reader.bytes_read

    def put_file(self, key: str, path: Any, content_type: str) -> None:
        """Upload a local file (multipart when large; nothing visible until it is whole)."""
        self._s3.upload_file(
            str(path),
            self.bucket,
            _checked(key),
            ExtraArgs={"ContentType": content_type},
            Config=_TRANSFER,
        )

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=_checked(key), Body=body, ContentType=content_type
        )

    def get_json(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def list_keys(self, prefix: str) -> Iterator[str]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                yield item["Key"]

    def get_json_tagged(self, key: str) -> tuple[Any, str] | None:
        """The document and its ETag (for ``put_json(if_match=...)``); None when absent."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return json.loads(response["Body"].read()), response["ETag"]

    def put_json(
        self, key: str, document: Any, *, if_match: str | None = None, if_absent: bool = False
    ) -> None:
        """Write ``document``; with ``if_match`` only over that ETag, with ``if_absent`` only
        where there is no object yet (S3's conditional writes), else ``WriteConflictError``."""
        body = json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8")
        conditions = {"IfMatch": if_match} if if_match else {}
        if if_absent:
            conditions["IfNoneMatch"] = "*"
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=_checked(key),
                Body=body,
                ContentType="application/json",
                **conditions,
            )
        except ClientError as exc:
            if conditions and exc.response.get("Error", {}).get("Code") in _CONFLICTS:
                raise WriteConflictError(key) from exc
            raise

    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects (their current versions: older versions expire by lifecycle)."""
        batch = [{"Key": key} for key in keys]
        for start in range(0, len(batch), 1000):  # DeleteObjects takes 1,000 keys at most
            self._s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch[start : start + 1000], "Quiet": True}
            )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key_of(self, uri: str) -> str:
        """The key of one of this bucket's ``s3://`` URIs."""
        prefix = f"s3://{self.bucket}/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri!r} is not in bucket {self.bucket}")
        return uri[len(prefix) :]
