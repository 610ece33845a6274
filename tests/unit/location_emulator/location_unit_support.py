"""Shortcuts for driving the Amazon Location emulator's WSGI app in-process (no sockets)."""

import json

from location_emulator import LocationEmulatorApp
from werkzeug.test import Client

SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/geo-places/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=0123456789abcdef"
)
GEOCODE = "/v2/geocode"
REVERSE = "/v2/reverse-geocode"


class Places:
    """POSTs JSON to the app, signed (a SigV4-looking header) unless told otherwise."""

    def __init__(self, app: LocationEmulatorApp) -> None:
        self.app = app
        self.client = Client(app)

    def post(self, path, body=None, *, raw=None, authorization=SIGV4, query=""):
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data=data, headers=headers, query_string=query)

    def geocode(self, body=None, **options):
        return self.post(GEOCODE, body, **options)

    def reverse(self, body=None, **options):
        return self.post(REVERSE, body, **options)
