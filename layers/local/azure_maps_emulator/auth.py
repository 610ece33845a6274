"""Who may call: a configured subscription key, in the ``subscription-key`` header or query.

The header is what the spec declares and what ``AzureKeyCredential`` sends; the query form is
the migration guide's (reference §2). When both are sent, the header decides. Keys are compared
in constant time and never appear in messages or logs. Entra tokens and SAS are not emulated:
a request carrying only ``Authorization`` is refused like a request without a key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

REALM = "https://atlas.microsoft.com/"


@dataclass(frozen=True)
class AuthFailure:
    """Answered 401 with this ``WWW-Authenticate`` header."""

    www_authenticate: str
    status: int = 401


# The headers seen from the real service (reference §5.1, [I1] and [I2]).
INVALID_KEY = AuthFailure(
    f'SharedKey realm="{REALM}", error="InvalidKey", '
    'error_description="The provided key was incorrect or the account resource does not exist."'
)
INVALID_SAS = AuthFailure(
    f'jwt-sas realm="{REALM}", error="InvalidClientId", '
    'error_description="The provided client ID was incorrect or the account resource does not '
    'exist."'
)


def authenticate(
    header_key: str | None, query_key: str | None, authorization: str | None, keys: set[str]
) -> AuthFailure | None:
    """None when the request may proceed, else why not."""
    key = header_key if header_key is not None else query_key
    if key is not None and _known_key(key, keys):
        return None
    if key is None and (authorization or "").lstrip().lower().startswith("jwt-sas"):
        return INVALID_SAS
    return INVALID_KEY


def _known_key(key: str, keys: set[str]) -> bool:
    # Every configured key is compared, so the time taken says nothing about which one is near.
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(key.encode("utf-8"), candidate.encode("utf-8"))
    return found
