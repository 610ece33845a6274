"""An https proxy for clients that hard-code a service's https URL and honour ``HTTPS_PROXY``.

A ``CONNECT`` to an intercepted host (port 443) is answered 200; TLS is then ended here with a
certificate for that host, issued by a local CA made at start (``trustme``), and the decrypted
requests go to the emulator's own WSGI app (``socket_wsgi``). Nothing is ever forwarded: a
CONNECT to any other host or port is refused with 403 and no outbound connection is made;
anything but a CONNECT is refused (405, or 400 for what is not HTTP at all). The CA's private
key stays in memory and dies with the process: only its certificate is written out, for the
client to trust.
"""

from __future__ import annotations

import logging
import re
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .socket_wsgi import Site, WsgiApp, serve_connection

logger = logging.getLogger(__name__)

HTTPS_PORT = 443
HEAD_SECONDS = 10.0  # to send the CONNECT head, and then to finish the TLS handshake
_MAX_HEAD_LINE = 8192
_MAX_HEAD_LINES = 100
_REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/1\.[01]")


class ConnectProxy:
    """The proxy listener: ``ConnectProxy(app, hosts).start()``, then ``url`` and
    ``ca_cert_pem``; ``stop()`` ends it. One thread per connection (loopback tests, a few
    clients)."""

    def __init__(
        self,
        app: WsgiApp,
        hosts: Iterable[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int,
        ident: str,
        plain_url: str | None = None,
    ) -> None:
        import trustme  # local-only dependency

        self.app = app
        self.hosts = tuple(sorted({h.lower().rstrip(".") for h in hosts}))
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.ident = ident
        self.plain_url = plain_url  # where plain http goes, for the refusals' words
        self._ca = trustme.CA(
            organization_name="Geocode Dataflow emulator",
            organization_unit_name="local https proxy CA (key held in memory only)",
        )
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._server: _Listener | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What ``HTTPS_PROXY`` should say: ``http://HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ca_cert_pem(self) -> bytes:
        """The CA certificate (PEM) a client must trust for the intercepted hosts."""
        return self._ca.cert_pem.bytes()

    def write_ca_cert(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.ca_cert_pem)
        return target

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context holding a certificate for ``host`` (made once)."""
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                self._ca.issue_cert(host).configure_cert(context)
                self._contexts[host] = context
            return context

    def start(self) -> ConnectProxy:
        listener = _Listener6 if ":" in self.host else _Listener
        server = listener((self.host, self.port), _ConnectHandler)
        server.proxy = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"{self.ident}-https-proxy:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


class _Listener(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    proxy: ConnectProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("https proxy connection ended with an error", exc_info=True)


class _Listener6(_Listener):
    address_family = socket.AF_INET6


class _ConnectHandler(socketserver.StreamRequestHandler):
    rbufsize = 0  # unbuffered: nothing sent after the CONNECT head is read ahead of TLS
    timeout = HEAD_SECONDS
    server: _Listener

    def handle(self) -> None:
        proxy = self.server.proxy
        head = self._read_head()
        if head is None:
            self._refuse(400, "Bad Request", self._not_connect(proxy))
            return
        method, target = head
        if method != "CONNECT":
            self._refuse(405, "Method Not Allowed", self._not_connect(proxy), allow="CONNECT")
            return
        host, port = _split_target(target)
        if host not in proxy.hosts or port != HTTPS_PORT:
            logger.info("https proxy refused a CONNECT to %s", target[:200])
            self._refuse(
                403,
                "Forbidden",
                f"This emulator intercepts https to {', '.join(proxy.hosts)} (port 443) "
                "only. It never connects anywhere else.\n",
            )
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        # Answers go out as a head and a body write: without this, Nagle's algorithm and the
        # client's delayed ACK hold each body back about 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = proxy.context_for(host).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            # Most often a client that does not trust the CA: it aborts the handshake.
            logger.debug("TLS handshake with an https proxy client failed", exc_info=True)
            return
        try:
            site = Site(
                proxy.app,
                scheme="https",
                host=host,
                port=port,
                max_body_bytes=proxy.max_body_bytes,
                ident=proxy.ident,
            )
            serve_connection(tls, self.client_address, site)
        finally:
            tls.close()

    def _read_head(self) -> tuple[str, str] | None:
        """(method, target) of the request head, or None when it is not HTTP."""
        try:
            line = self.rfile.readline(_MAX_HEAD_LINE)
            found = _REQUEST_LINE.fullmatch(line.decode("latin-1").rstrip("\r\n"))
            if found is None:
                return None
            for _ in range(_MAX_HEAD_LINES):
                header = self.rfile.readline(_MAX_HEAD_LINE)
                if header in (b"\r\n", b"\n"):
                    return found.group(1).upper(), found.group(2)
                if not header.endswith(b"\n"):
                    return None  # too long, or the client stopped half way
        except (TimeoutError, OSError):
            return None
        return None

    @staticmethod
    def _not_connect(proxy: ConnectProxy) -> str:
        plain = f" Send plain http to {proxy.plain_url}." if proxy.plain_url else ""
        return (
            "This port is the emulator's https proxy: it takes only "
            f"CONNECT {proxy.hosts[0]}:443 requests (set HTTPS_PROXY to it).{plain}\n"
        )

    def _refuse(self, status: int, reason: str, text: str, *, allow: str | None = None) -> None:
        body = text.encode("utf-8")
        extra = f"Allow: {allow}\r\n" if allow else ""
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
        )
        try:
            self.wfile.write(head.encode("latin-1") + body)
        except OSError:
            logger.debug("client left before hearing the refusal", exc_info=True)


def _split_target(target: str) -> tuple[str, int | None]:
    """``host:port`` (or ``[v6]:port``) of a CONNECT, host lower-cased; port None if bad."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]").lower().rstrip(".")
    try:
        return host, int(port)
    except ValueError:
        return target.lower(), None
