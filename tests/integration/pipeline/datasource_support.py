"""A Dataflow emulator for the backup tests, behind a thin WSGI layer that can abort downloads.

The emulator completes every Data Source Download job; the service may instead end one
Aborted, with an ``errorMessage`` and a ``failed`` link to an error log (S-dl-resp).
``AbortingDownloads`` rewrites the status answers of the data sources it is given that way and
serves their error log; everything else is the emulator's own answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dataflow_emulator import EmulatorConfig, EmulatorServer

_STATUS = re.compile(r"/rest/v1/dataflows/datasourcedownload/([^/]+)/?", re.IGNORECASE)
_ERROR_LOG = re.compile(
    r"/rest/v1/dataflows/datasourcedownload/([^/]+)/output/failed/?", re.IGNORECASE
)


class AbortingDownloads:
    def __init__(self, app: Any, aborts: dict[str, tuple[str, bytes]]) -> None:
        self.app = app
        self.aborts = {name.casefold(): value for name, value in aborts.items()}

    def close(self) -> None:
        self.app.close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        log = _ERROR_LOG.fullmatch(path)
        if log and log.group(1).casefold() in self.aborts:
            body = self.aborts[log.group(1).casefold()][1]
            start_response(
                "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        status = _STATUS.fullmatch(path)
        if not status or status.group(1).casefold() not in self.aborts:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(line: str, headers: list[tuple[str, str]], *_: Any) -> None:
            captured.update(line=line, headers=headers)

        body = b"".join(self.app(environ, capture))
        if not captured["line"].startswith("200"):
            start_response(captured["line"], captured["headers"])
            return [body]
        document = json.loads(body)
        job = document["resourceSets"][0]["resources"][0]
        self_url = next(link["url"] for link in job["links"] if link["role"] == "self")
        job["status"] = "Aborted"
        job["errorMessage"] = self.aborts[status.group(1).casefold()][0]
        job["links"] = [
            {"role": "self", "url": self_url},
            {"role": "output", "name": "failed", "url": f"{self_url}/output/failed"},
        ]
        answer = json.dumps(document).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["line"], [*headers, ("Content-Length", str(len(answer)))])
        return [answer]


def aborting_emulator(
    config: EmulatorConfig, aborts: dict[str, tuple[str, bytes]]
) -> EmulatorServer:
    server = EmulatorServer(config)
    server.app = AbortingDownloads(server.app, aborts)  # type: ignore[assignment]
    return server
