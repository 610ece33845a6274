"""Settings every test shares: no tracing, a metrics namespace, no real AWS credentials."""

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "geocode-dataflow")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GeocodeDataflow")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture
def load_event():
    """The payloads in events/ (also used by `sam local invoke -e`), by file stem."""

    def load(name: str) -> dict:
        return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))

    return load
