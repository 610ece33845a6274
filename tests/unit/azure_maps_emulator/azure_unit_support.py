"""Shortcuts for driving the Azure Maps emulator's WSGI app in-process (no sockets)."""

import json

from azure_maps_emulator import AzureMapsEmulatorApp
from werkzeug.test import Client

KEY = "unit-test-key"
GEOCODE = "/geocode:batch"
REVERSE = "/reverseGeocode:batch"
LATEST = "2026-01-01"


class Maps:
    """POSTs ``{"batchItems": items}`` to the app with the key header, unless told otherwise."""

    def __init__(self, app: AzureMapsEmulatorApp) -> None:
        self.app = app
        self.client = Client(app)

    def post(
        self,
        path,
        items=None,
        *,
        body=None,
        raw=None,
        key=KEY,
        api_version=LATEST,
        query=None,
        headers=None,
    ):
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["subscription-key"] = key
        if raw is None:
            raw = json.dumps(body if body is not None else {"batchItems": items or []})
        params = dict(query or {})
        if api_version is not None:
            params["api-version"] = api_version
        return self.client.post(path, data=raw, headers=sent, query_string=params)

    def geocode(self, items=None, **options):
        return self.post(GEOCODE, items, **options)

    def reverse(self, items=None, **options):
        return self.post(REVERSE, items, **options)

    def geocode_one(self, item, **options):
        """The answer for one forward item (the request must succeed)."""
        answer = self.geocode([item], **options)
        assert answer.status_code == 200, answer.json
        return answer.json["batchItems"][0]

    def reverse_one(self, item, **options):
        answer = self.reverse([item], **options)
        assert answer.status_code == 200, answer.json
        return answer.json["batchItems"][0]
