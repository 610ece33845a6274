"""Plain-requests helpers for talking to an emulator over real loopback HTTP."""

import time
from pathlib import Path

import requests

KEY = "IntegrationKey-1"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "emulator"


def only_job(response: requests.Response) -> dict:
    return response.json()["resourceSets"][0]["resources"][0]


def wait_until_done(
    session: requests.Session, status_url: str, *, key: str = KEY, timeout: float = 20.0, **kwargs
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = session.get(status_url, params={"key": key}, timeout=10, **kwargs)
        assert response.status_code == 200, response.text
        job = only_job(response)
        if job["status"] != "Pending":
            return job
        assert time.monotonic() < deadline, f"job still pending: {job}"
        time.sleep(0.05)


def output_urls(job: dict) -> dict[str, str]:
    return {link["name"]: link["url"] for link in job["links"] if link["role"] == "output"}
