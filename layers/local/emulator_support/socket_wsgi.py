"""A WSGI app served over one socket that is already connected (an https tunnel's inside).

The https proxy (``connect_proxy``) ends TLS itself and needs an HTTP/1.1 server for the
decrypted stream; waitress only serves sockets it accepted. This is that server, kept small:
keep-alive, ``Expect: 100-continue``, bodies by ``Content-Length`` or chunked (de-chunked for
the app, as waitress does), answers of known length or sent until the connection closes.
Request lines are never logged: their query strings carry the key.
"""

from __future__ import annotations

import io
import logging
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes, urlsplit

logger = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SOCKET_KEY = "emulator.socket"  # environ entry: the client's socket, for injected resets
IDLE_SECONDS = 60.0  # as waitress's channel_timeout in BackgroundWsgiServer
_MAX_LINE = 65536
# After a 413, what the client still sends is read and dropped, up to this, before the close.
_DISCARD_BYTES = 64 << 20
_DISCARD_SECONDS = 2.0


class BodyTooLargeError(Exception):
    """The request body is larger than the server accepts (answered 413)."""


class _LengthBody(io.RawIOBase):
    """Exactly ``length`` bytes of ``source``, then end of file."""

    def __init__(self, source: BinaryIO, length: int) -> None:
        self._source = source
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            return 0
        data = self._source.read(min(len(buffer), self.left))
        if not data:
            raise ConnectionError("the request body ended early")
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)


class _ChunkedBody(io.RawIOBase):
    """A ``Transfer-Encoding: chunked`` body, de-chunked; more than ``limit`` bytes raise."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._chunk_left = 0
        self._total = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        if self._chunk_left == 0:
            line = self._source.readline(_MAX_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ConnectionError("malformed chunked request body") from None
            if size == 0:
                while self._source.readline(_MAX_LINE).strip():
                    pass  # trailers
                self._done = True
                return 0
            self._total += size
            if self._total > self._limit:
                raise BodyTooLargeError(f"request body over {self._limit} bytes")
            self._chunk_left = size
        data = self._source.read(min(len(buffer), self._chunk_left))
        if not data:
            raise ConnectionError("the request body ended early")
        buffer[: len(data)] = data
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._source.readline(_MAX_LINE)  # the CRLF after the chunk
        return len(data)


class WsgiConnection(BaseHTTPRequestHandler):
    """Serves ``app`` on one connected socket until the client is done.

    Build with ``WsgiConnection(sock, client_address, site)``: ``site`` is a ``Site``.
    """

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    server: Site  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(_MAX_LINE + 1)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if len(self.raw_requestline) > _MAX_LINE:
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return  # parse_request answered the error
        try:
            self._run_app()
        except BodyTooLargeError:
            self.close_connection = True
            self._plain(413, "The request body is too large.\n")
            self._discard_upload()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def _body(self) -> tuple[BinaryIO, int, _LengthBody | None]:
        """The body as the app reads it, its length, and what of it is still on the socket.

        A chunked body is read whole first (into a spooled file, on disk past 1 MiB) as
        waitress does, so that the app sees its length and an oversized one is a 413."""
        limit = self.server.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - returned
            try:
                shutil.copyfileobj(io.BufferedReader(_ChunkedBody(self.rfile, limit)), spool)
            except BaseException:
                spool.close()
                raise
            size = spool.tell()
            spool.seek(0)
            return spool, size, None  # type: ignore[return-value]
        try:
            length = max(int(self.headers.get("Content-Length") or 0), 0)
        except ValueError:
            raise ConnectionError("bad Content-Length") from None
        if length > limit:
            raise BodyTooLargeError(f"request body over {limit} bytes")
        rest = _LengthBody(self.rfile, length)
        return io.BufferedReader(rest), length, rest  # type: ignore[return-value]

    def _environ(self, body: BinaryIO, length: int) -> dict[str, Any]:
        target = urlsplit(self.path) if "://" in self.path else urlsplit("//x" + self.path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(target.path or "/").decode("latin-1"),
            "QUERY_STRING": target.query,
            "SERVER_NAME": self.server.host,
            "SERVER_PORT": str(self.server.port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": str(self.client_address[0]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.server.scheme,
            "wsgi.input": body,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            SOCKET_KEY: self.request,
        }
        if length or "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
            environ["CONTENT_LENGTH"] = str(length)
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                key = "HTTP_" + key
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _run_app(self) -> None:
        body, length, rest = self._body()
        environ = self._environ(body, length)
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            started[:] = [(status, headers)]
            return lambda data: None  # the legacy write() callable; the apps here never use it

        # An app that resets the connection (fault injection) makes the writes below fail.
        chunks = self.server.app(environ, start_response)
        try:
            status, headers = started[0]
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            names = {name.lower() for name, _ in headers}
            for name, value in headers:
                self.send_header(name, value)
            if "content-length" not in names:
                self.close_connection = True  # the end of the answer is the end of the stream
            if rest is not None and rest.left > 0:
                self.close_connection = True  # an unread body would be taken for a request
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                for chunk in chunks:
                    self.wfile.write(chunk)
            self.wfile.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            body.close()

    def _plain(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass

    def _discard_upload(self) -> None:
        """Read (a bounded part of) what the client is still sending, so that closing the
        connection does not reset it before the client has read the answer."""
        self.request.settimeout(_DISCARD_SECONDS)
        try:
            for _ in range(_DISCARD_BYTES // (1 << 16)):
                if not self.rfile.read1(1 << 16):
                    return
        except OSError:
            return

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Not logged: the request line (in ``args``) carries the key."""

    def version_string(self) -> str:
        return self.server.ident


class Site:
    """What a ``WsgiConnection`` serves: the app, and the origin the client believes it talks
    to (``scheme://host:port``, e.g. ``https://spatial.virtualearth.net:443``)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        scheme: str,
        host: str,
        port: int,
        max_body_bytes: int,
        ident: str,
    ) -> None:
        self.app = app
        self.scheme = scheme
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.ident = ident


def serve_connection(sock: socket.socket, client_address: Any, site: Site) -> None:
    """Serve ``site`` on ``sock`` until the client closes it or falls idle."""
    WsgiConnection(sock, client_address, site)  # type: ignore[arg-type]
