"""A tiny scripted HTTP server on 127.0.0.1 for the client's tests: real sockets, no mocks.

Each route (method + path, case-insensitive) has a queue of replies; the last one repeats.
A reply is a status/body/headers triple, or an action: ``reset`` (close the socket without an
answer), ``truncate`` (announce more body than is sent, then close), ``sleep`` (answer late).
Every request is recorded (method, path, query, headers, body) for assertions.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "client"
SECRET_KEY = "SeCrEtKeY-4f2a9c81b7e3d6a0-Never-Log-Me"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "respond"  # respond | reset | truncate | sleep
    seconds: float = 0.0


def json_reply(status: int, document: Any, **headers: str) -> Reply:
    return Reply(
        status, json.dumps(document).encode(), {"Content-Type": "application/json", **headers}
    )


def envelope(
    status: int, *resources: dict[str, Any], details: list[str] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "authenticationResultCode": "ValidCredentials",
        "statusCode": status,
        "statusDescription": "OK",
        "traceId": "0123456789abcdef0123456789abcdef",
        "resourceSets": [{"estimatedTotal": len(resources), "resources": list(resources)}]
        if resources
        else [],
    }
    if details is not None:
        document["errorDetails"] = details
    return document


def job_resource(
    job_id: str,
    status: str = "Pending",
    base: str = "https://spatial.virtualearth.net",
    outputs: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    self_url = f"{base}/REST/v1/dataflows/Geocode/{job_id}"
    links = [{"role": "self", "url": self_url}]
    links += [
        {"name": name, "role": "output", "url": f"{self_url}/output/{name}"} for name in outputs
    ]
    resource = {
        "__type": "DataflowJob:http://schemas.microsoft.com/search/local/ws/rest/v1",
        "id": job_id,
        "links": links,
        "createdDate": "Mon, 11 Mar 2024 10:00:00 GMT",
        "description": "test",
        "failedEntityCount": 0,
        "processedEntityCount": 0,
        "status": status,
        "totalEntityCount": 3,
    }
    resource.update(extra)
    return resource


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class FakeService:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], deque[Reply | Callable[[Recorded], Reply]]] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                service._handle(self)

            def do_POST(self) -> None:
                service._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.block_on_close = False
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/REST/v1/Dataflows"

    def on(self, method: str, path: str, *replies: Reply | Callable[[Recorded], Reply]) -> None:
        self.routes[(method.upper(), path.lower())] = deque(replies)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path is None or r.path.lower() == path.lower())
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(handler)
        recorded = Recorded(
            handler.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            dict(handler.headers.items()),
            body,
        )
        with self._lock:
            self.requests.append(recorded)
            queue = self.routes.get((handler.command, parts.path.lower()))
            if queue:
                reply = queue[0] if len(queue) == 1 else queue.popleft()
            else:
                reply = json_reply(404, envelope(404, details=[f"no route for {parts.path}"]))
        if callable(reply):
            reply = reply(recorded)
        if reply.action == "reset":
            sock = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            handler.close_connection = True
            return
        if reply.action == "sleep":
            time.sleep(reply.seconds)
        handler.send_response(reply.status)
        headers = dict(reply.headers)
        announced = len(reply.body) * 2 if reply.action == "truncate" else len(reply.body)
        headers.setdefault("Content-Length", str(announced))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(reply.body)
            handler.wfile.flush()
        except OSError:
            pass
        if reply.action == "truncate":
            handler.close_connection = True


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    body = bytearray()
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            handler.rfile.readline()
            return bytes(body)
        body += handler.rfile.read(size)
        handler.rfile.readline()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)
