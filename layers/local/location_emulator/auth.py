"""Who may call: a SigV4-signed request scoped to ``geo-places``, or a configured API key.

The signature itself is not verified (any credentials will do, as with moto), but its scope
must name the service, so a client signing for the wrong service fails here as it would in AWS.
Keys are compared in constant time and never appear in messages or logs.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from .validation import SERVICE

_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+(?P<params>.+)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class AuthFailure:
    """Answered with ``status`` and ``x-amzn-ErrorType: error_type``."""

    error_type: str
    message: str
    status: int = 403


MISSING_TOKEN = AuthFailure("MissingAuthenticationTokenException", "Missing Authentication Token")
INCOMPLETE_SIGNATURE = AuthFailure(
    "IncompleteSignatureException",
    "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
    "(AWS4-HMAC-SHA256).",
)
WRONG_SERVICE = AuthFailure(
    "AccessDeniedException", f"Credential should be scoped to correct service: '{SERVICE}'."
)
INVALID_KEY = AuthFailure("AccessDeniedException", "The API key is not valid for this request.")


def authenticate(
    authorization: str | None, key: str | None, api_keys: set[str]
) -> AuthFailure | None:
    """None when the request may proceed, else why not.

    Either way in is enough: a valid key rescues a badly scoped signature and vice versa.
    """
    signature_failure = _check_signature(authorization) if authorization else MISSING_TOKEN
    if signature_failure is None:
        return None
    if key is not None:
        return None if _known_key(key, api_keys) else INVALID_KEY
    return signature_failure


def _check_signature(authorization: str) -> AuthFailure | None:
    match = _SIGV4.match(authorization.strip())
    if match is None:
        return INCOMPLETE_SIGNATURE
    params: dict[str, str] = {}
    for part in match.group("params").split(","):
        name, _, value = part.strip().partition("=")
        params[name.strip()] = value.strip()
    if not all(params.get(name) for name in ("Credential", "SignedHeaders", "Signature")):
        return INCOMPLETE_SIGNATURE
    # Credential=AKID/20261201/us-east-1/geo-places/aws4_request
    scope = params["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        return INCOMPLETE_SIGNATURE
    return None if scope[3] == SERVICE else WRONG_SERVICE


def _known_key(key: str, api_keys: set[str]) -> bool:
    # Every configured key is compared, so the time taken says nothing about which one is near.
    found = False
    for candidate in api_keys:
        found |= hmac.compare_digest(key.encode("utf-8"), candidate.encode("utf-8"))
    return found
