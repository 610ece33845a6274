"""Keeping the Bing Maps key secret: where it may be sent, and scrubbing it from text and logs.

The key travels in the query string (the protocol has no other way), so any URL that requests,
urllib3 or this package formats into a message or a log line would carry it. Everything that
leaves the client goes through ``redact``; urllib3's own loggers get a filter doing the same.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from geocode_dataflow.errors import InsecureEndpointError

REDACTED = "***"

# `key=` (Bing) or `subscription-key=` (Azure) in a query string, up to the next separator: the
# value is whatever the caller sent. A backslash ends it too, so that a JSON text stays JSON.
_KEY_PARAM = re.compile(r"(?i)([?&;](?:subscription-)?key=)[^&#\s'\"<>)\\]*")

# urllib3 logs full request URLs (path + query) at DEBUG, and at WARNING when it retries a
# broken connection; requests has a logger too. Their records pass through the filter below.
_THIRD_PARTY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every ``key=`` query value and every literal secret replaced by ``***``."""
    text = _KEY_PARAM.sub(lambda match: match.group(1) + REDACTED, text)
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with ``redact`` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: the handler will report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach the redacting filter to urllib3's and requests' loggers (idempotent).

    A filter on a logger only sees records created by that very logger, hence the list.
    """
    for name in (*_THIRD_PARTY_LOGGERS, *extra_loggers):
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address)."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash; refuses what would expose the key.

    https anywhere; plain http only to loopback (the emulator). Raises ``ValueError`` for
    something that is not an http(s) URL and ``InsecureEndpointError`` for http elsewhere.
    """
    parts = urlsplit(endpoint.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the Dataflow endpoint must be an http(s) URL, got {redact(endpoint)!r}")
    if parts.query or parts.fragment:
        raise ValueError("the Dataflow endpoint must not carry a query string or fragment")
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureEndpointError(
            f"refusing to send the Bing Maps key over plain http to {parts.hostname}: "
            "use https, or http only to a loopback address (127.0.0.1, ::1, localhost)"
        )
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class Secret:
    """A string that does not show itself in reprs, tracebacks' locals or f-strings by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)
