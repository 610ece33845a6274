from __future__ import annotations

import io
from pathlib import Path

import pytest
from geocode_dataflow.schema import GeocodeEntity, open_feed

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "schema"


def _read(data: bytes | Path, filename: str | None = None, **kwargs) -> list[GeocodeEntity]:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with open_feed(source, filename, **kwargs) as reader:
        return list(reader)


@pytest.fixture
def fixture_path():
    """``fixture_path("x.csv")`` -> the path of a file under tests/fixtures/schema."""
    return lambda name: FIXTURES / name


@pytest.fixture
def read():
    """``read(bytes_or_path, filename=None, **open_feed_kwargs)`` -> all entities."""
    return _read
