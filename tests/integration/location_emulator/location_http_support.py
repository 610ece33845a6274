"""Shortcuts for reaching the Amazon Location emulator over loopback HTTP."""

import json
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

# botocore's standard mode makes 3 attempts; tests that count requests want exactly one.
NO_RETRIES = {"retries": {"total_max_attempts": 1}}
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/geo-places/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=0123456789abcdef"
)


def places_client(server, **config):
    """An unmodified boto3 geo-places client pointed at the emulator."""
    return boto3.client(
        "geo-places",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(**config) if config else None,
    )


def raw_post(server, path, body, *, authorization=SIGV4):
    """POST without botocore (which refuses some of what tests send): status, headers (lower-case
    names), JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(server.url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, _lower(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), json.loads(error.read())


def _lower(headers):
    # Header names are case-insensitive (waitress title-cases them): compare in lower case.
    return {name.lower(): value for name, value in headers.items()}
