"""``dataLocation``: which URLs the emulator may fetch an upload from, and fetching one safely.

Off unless hosts are listed (``--allow-data-location HOST[:PORT]``): a fetch is a request the
emulator makes on its client's behalf, so an open one would let any client reach whatever the
emulator's host can (its own control endpoints, cloud metadata, services bound to loopback).
A listed name must not resolve to a loopback, link-local, unspecified, multicast or reserved
address unless that address (or ``localhost``) is itself listed, and the connection goes to the
address that was checked, so DNS cannot swap it afterwards. Redirects are not followed. Errors
say what went wrong (status, size, media type), never what was fetched.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .uploads import UploadError, copy_capped, new_file, too_large

LOCALHOST = "localhost"
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,40}/[a-z0-9!#$&^_.+-]{1,60}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AllowedHost:
    """One ``--allow-data-location`` entry: a host name or IP address, and a port (None = any)."""

    host: str  # lower case; an IPv6 address without brackets, in its compressed form
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedHost:
        """``HOST``, ``HOST:PORT``, ``[IPV6]`` or ``[IPV6]:PORT``; ValueError otherwise."""
        entry = text.strip().lower()
        if not entry or "/" in entry or "@" in entry:
            raise ValueError(f"--allow-data-location: give HOST or HOST:PORT, not {text!r}")
        host, port = entry, None
        if entry.startswith("["):
            host, bracket, rest = entry[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"--allow-data-location: bad IPv6 entry {text!r}")
            port = _port(rest[1:], text) if rest else None
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
            port = _port(port_text, text)
        address = _ip(host)
        if address is None and not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?", host):
            raise ValueError(f"--allow-data-location: {text!r} is not a host name or IP address")
        return cls(str(address) if address is not None else host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def allows(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)

    def allows_special(self, address: IPAddress) -> bool:
        """Whether this entry names ``address`` (loopback, link-local...) itself."""
        if address.is_loopback and self.host == LOCALHOST:
            return True
        return _ip(self.host) == address


@dataclass(frozen=True)
class Fetched:
    """A dataLocation download on disk, and what may be said about it in an error."""

    path: Path
    size: int
    media_type: str  # the declared Content-Type's media type, or "no Content-Type"

    def describe(self) -> str:
        return f"{self.size:,} bytes, {self.media_type}"


@dataclass(frozen=True)
class _Target:
    tls: bool
    host: str
    port: int
    path: str
    entry: AllowedHost


def fetch(
    url: str,
    directory: Path,
    *,
    allowed: tuple[AllowedHost, ...],
    limit: int,
    timeout: float = 30.0,
) -> Fetched:
    """Download ``url`` to a file in ``directory`` when ``allowed`` lets it, at most ``limit``
    bytes; UploadError (the words of the 400) otherwise."""
    if not allowed:
        raise UploadError(
            "This emulator does not fetch dataLocation URLs: it was not started with "
            "--allow-data-location HOST[:PORT]. Upload the data in the request body instead."
        )
    target = _target(url, allowed)
    addresses = _resolve(target)
    path, handle = new_file(directory, ".fetched")
    try:
        with handle:
            media_type = _download(target, addresses, handle, limit, timeout)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Fetched(path, path.stat().st_size, media_type)


def _target(url: str, allowed: tuple[AllowedHost, ...]) -> _Target:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise UploadError("The dataLocation parameter is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise UploadError("The dataLocation parameter must be an http or https URL.")
    host = parts.hostname.lower()
    address = _ip(host)
    host = str(address) if address is not None else host
    port = port or (443 if scheme == "https" else 80)
    entry = next((e for e in allowed if e.allows(host, port)), None)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if entry is None:
        raise UploadError(
            f"The dataLocation host {shown} is not one this emulator may fetch from "
            "(see its --allow-data-location list)."
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme == "https", host, port, path, entry)


def _resolve(target: _Target) -> list[str]:
    """The target's addresses, each checked: a special one only when listed itself."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UploadError(f"The dataLocation host {target.host} could not be resolved.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for text in addresses:
        address = ipaddress.ip_address(text.partition("%")[0])
        kind = _special_kind(address)
        if kind and not target.entry.allows_special(address):
            raise UploadError(
                f"The dataLocation host {target.host} resolves to {kind} address, which this "
                "emulator fetches from only when that address is listed itself "
                f"(--allow-data-location {_listing(address, target.port)})."
            )
    return addresses


def _download(
    target: _Target, addresses: list[str], sink: BinaryIO, limit: int, timeout: float
) -> str:
    connection = _PinnedConnection(target, addresses, timeout)
    try:
        connection.request(
            "GET", target.path, headers={"Accept-Encoding": "identity", "Connection": "close"}
        )
        return _read(connection.getresponse(), sink, limit)
    except UploadError:
        raise
    except http.client.InvalidURL:
        raise UploadError("The dataLocation parameter is not a valid URL.") from None
    except (http.client.HTTPException, OSError) as exc:
        raise UploadError(f"The data at dataLocation could not be read: {_failure(exc)}.") from None
    finally:
        connection.close()


def _failure(exc: BaseException) -> str:
    """What went wrong, in our words: the texts of some of these exceptions quote the server."""
    if isinstance(exc, TimeoutError):
        return "the connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.IncompleteRead):
        return "the answer ended before its declared length"
    if isinstance(exc, http.client.HTTPException):
        return "the answer is not valid HTTP"
    if isinstance(exc, ssl.SSLError):
        return "the TLS handshake failed (an untrusted certificate, or not this host's)"
    return f"the connection failed ({getattr(exc, 'strerror', None) or type(exc).__name__})"


def _read(response: http.client.HTTPResponse, sink: BinaryIO, limit: int) -> str:
    if response.status != 200:
        note = " (redirects are not followed)" if 300 <= response.status < 400 else ""
        raise UploadError(
            f"The data at dataLocation could not be read: the server answered HTTP "
            f"{response.status}{note}."
        )
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(limit)
    copy_capped(response, sink, limit)  # type: ignore[arg-type]
    return _media_type(response.getheader("Content-Type"))


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to the checked addresses only (in order), naming the host in Host and for TLS."""

    def __init__(self, target: _Target, addresses: list[str], timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.default_port = 443 if target.tls else 80  # so Host carries no default port
        self._addresses = addresses
        self._tls = ssl.create_default_context() if target.tls else None

    def connect(self) -> None:
        failure: OSError | None = None
        for address in self._addresses:
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
                break
            except OSError as exc:
                failure = exc
        else:
            raise failure or OSError("no address to connect to")
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _special_kind(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, flag in (
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("an unspecified", address.is_unspecified),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
    ):
        if flag:
            return kind
    return None


def _listing(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def _media_type(header: str | None) -> str:
    """The declared media type when it is one (a token/token pair), else a fixed phrase."""
    if not header:
        return "no Content-Type"
    value = header.split(";", 1)[0].strip().lower()
    return f"Content-Type {value}" if _MEDIA_TYPE.fullmatch(value) else "an unusual Content-Type"


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"--allow-data-location: bad port in {entry!r}")
    return int(text)


__all__ = ["AllowedHost", "Fetched", "fetch"]
