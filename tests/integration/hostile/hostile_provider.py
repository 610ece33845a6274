"""A hostile geocoding provider on 127.0.0.1: real sockets, answers no honest service would give.

One ``HostileProvider`` serves every path with whatever ``answer`` says: a function of the
request (so an answer can echo the key it was sent) returning an ``Answer``. The factories
below build the hostile ones: bodies far beyond any cap, gzip bombs, endless chunked streams,
a byte every few seconds (in the body or in the headers), JSON and XML nested absurdly deep.
Bodies are generated as they are sent, never held whole, so the server itself stays small.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECRET_KEY = "HoStIlE-5e1f0c9a7b3d2e48-Key-Never-Echo"
MIB = 1024 * 1024
_FILLER = b"x" * MIB


@dataclass
class Seen:
    """One request the provider received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def key(self) -> str:
        """The key the caller sent: Bing's ``key`` parameter, else Azure's header."""
        return self.param("key") or self.headers.get("subscription-key") or ""


@dataclass
class Answer:
    """How to answer: ``pieces`` are written one after the other, ``pause`` seconds apart.

    ``framing``: ``length`` (a Content-Length of ``length`` or of the bytes given), ``chunked``
    or ``close`` (the body ends when the connection does). ``header_pause``: the status line
    and headers are sent one byte at a time, this many seconds apart.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pieces: Callable[[], Iterable[bytes]] = lambda: ()
    framing: str = "length"
    length: int | None = None
    pause: float = 0.0
    header_pause: float = 0.0


def body(
    status: int, data: bytes, content_type: str = "application/json", **headers: str
) -> Answer:
    return Answer(
        status, {"Content-Type": content_type, **headers}, lambda: [data], length=len(data)
    )


def json_answer(status: int, document: Any, **headers: str) -> Answer:
    return body(status, json.dumps(document).encode(), **headers)


def huge(size: int, content_type: str = "application/json", *, chunked: bool = False) -> Answer:
    """``size`` bytes of a JSON string that never ends (``{"pad": "xxxx...``)."""

    def pieces() -> Iterator[bytes]:
        yield b'{"pad": "'
        left = size - 9
        while left > 0:
            yield _FILLER[: min(left, MIB)]
            left -= MIB

    return Answer(
        200,
        {"Content-Type": content_type},
        pieces,
        framing="chunked" if chunked else "length",
        length=None if chunked else size,
    )


@cache
def bomb_bytes(expanded: int) -> bytes:
    """One gzip member that expands to ``expanded`` bytes of ``x`` (about 1/1000 of its size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(_FILLER) for _ in range(expanded // MIB)]
    parts.append(compressor.compress(_FILLER[: expanded % MIB]))
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(expanded: int, *, content_encoding: bool, content_type: str = "text/plain") -> Answer:
    """A gzip body expanding to ``expanded`` bytes: raw (as Bing sends result sets) or declared
    as ``Content-Encoding: gzip`` (undone by the HTTP stack)."""
    data = bomb_bytes(expanded)
    headers = {"Content-Type": content_type}
    if content_encoding:
        headers["Content-Encoding"] = "gzip"
    return Answer(200, headers, lambda: [data], length=len(data))


def endless(content_type: str = "application/json", piece: bytes = b"[1," * 1024) -> Answer:
    """A chunked body that never ends (a piece every 10 ms)."""

    def pieces() -> Iterator[bytes]:
        while True:
            yield piece

    return Answer(200, {"Content-Type": content_type}, pieces, framing="chunked", pause=0.01)


def trickle(data: bytes, every: float, content_type: str = "application/json") -> Answer:
    """``data`` with a correct Content-Length, one byte every ``every`` seconds."""
    return Answer(
        200,
        {"Content-Type": content_type},
        lambda: (data[i : i + 1] for i in range(len(data))),
        length=len(data),
        pause=every,
    )


def trickled_headers(answer: Answer, every: float) -> Answer:
    answer.header_pause = every
    return answer


def deep_json(depth: int) -> Answer:
    return body(200, b"[" * depth + b"]" * depth)


def deep_xml(depth: int) -> Answer:
    return body(200, b"<a>" * depth + b"</a>" * depth, "application/xml")


def gzipped(answer_data: bytes) -> bytes:
    return gzip.compress(answer_data)


class HostileProvider:
    """``with HostileProvider() as provider: provider.answer = lambda seen: ...``"""

    def __init__(self) -> None:
        self.answer: Callable[[Seen], Answer] = lambda seen: json_answer(404, {"error": "none"})
        self.seen: list[Seen] = []
        self._stopping = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                provider._handle(self)

            do_POST = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HostileProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        seen = Seen(
            handler.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {name.lower(): value for name, value in handler.headers.items()},
            handler.rfile.read(length) if length else b"",
        )
        self.seen.append(seen)
        answer = self.answer(seen)
        handler.close_connection = True
        try:
            self._write(handler, answer)
        except OSError:  # the client gave up: what a hostile server hopes for
            pass

    def _write(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        lines = [f"HTTP/1.1 {answer.status} Hostile"]
        headers = dict(answer.headers)
        pieces = answer.pieces
        if answer.framing == "length":
            length = answer.length
            if length is None:
                whole = b"".join(pieces())
                length, pieces = len(whole), lambda: [whole]
            headers["Content-Length"] = str(length)
        elif answer.framing == "chunked":
            headers["Transfer-Encoding"] = "chunked"
        headers["Connection"] = "close"
        lines += [f"{name}: {value}" for name, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        out = handler.wfile
        if answer.header_pause:
            for index in range(len(head)):
                if self._stopping.is_set():
                    return
                out.write(head[index : index + 1])
                out.flush()
                time.sleep(answer.header_pause)
        else:
            out.write(head)
        for piece in pieces():
            if self._stopping.is_set():
                return
            if answer.framing == "chunked":
                out.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                out.write(piece)
            if answer.pause:
                out.flush()
                time.sleep(answer.pause)
        if answer.framing == "chunked":
            out.write(b"0\r\n\r\n")
        out.flush()
