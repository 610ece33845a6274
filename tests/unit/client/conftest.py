"""Fixtures of the client tests: the scripted fake service and clients pointed at it."""

from __future__ import annotations

from typing import Any

import pytest
from client_fakes import SECRET_KEY, FakeService


@pytest.fixture
def fake_service():
    service = FakeService()
    yield service
    service.close()


@pytest.fixture
def make_client(fake_service):
    """A client on the fake service with fast retries (backoff in hundredths of a second)."""
    from geocode_dataflow.client import DataflowClient

    created = []

    def factory(**kwargs: Any) -> DataflowClient:
        options = {"retries": 3, "backoff_factor": 0.01, "timeout": (2, 5)}
        options.update(kwargs)
        client = DataflowClient(SECRET_KEY, fake_service.base_url, **options)
        created.append(client)
        return client

    yield factory
    for client in created:
        client.close()
