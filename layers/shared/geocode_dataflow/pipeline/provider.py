"""Provider keys from Secrets Manager (Bing Maps, Azure Maps), and the Dataflow client."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities import parameters

from geocode_dataflow.client import DataflowClient
from geocode_dataflow.errors import AuthenticationError

KEY_CACHE_SECONDS = 300


def read_key(secret_arn: str, what: str = "Bing Maps key") -> str:
    """The key stored in the secret: a plain string, or JSON with a ``key`` member.

    Powertools caches it for a few minutes per execution environment, so a rotated key is
    picked up without a redeploy.
    """
    raw = parameters.get_secret(secret_arn, max_age=KEY_CACHE_SECONDS)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    value = str(raw).strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("key", "")).strip()
        except (ValueError, AttributeError):
            value = ""
    if not value:
        # Never echo the secret's content: only say where it should be.
        raise AuthenticationError(
            f'the {what} secret is empty or not a string / {{"key": ...}} document'
        )
    return value


def make_client(secret_arn: str, endpoint: str) -> DataflowClient:
    return DataflowClient(read_key(secret_arn), endpoint)
