"""Per-deployment limits, each on its own local pipeline (moto's state is per process: one
pipeline at a time)."""

from __future__ import annotations

import json

import pytest
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration


def text_file(rows: list[list[str]]) -> bytes:
    lines = ["Bing Spatial Data Services, 2.0", "Id, GeocodeRequest/Culture, GeocodeRequest/Query"]
    return ("\n".join(lines + [",".join(r) for r in rows]) + "\n").encode("utf-8")


def test_a_file_over_the_configured_size_limit_is_rejected_before_any_provider_call():
    rows = [[f"big{i}", "en-US", f"{i} Main Street Springfield IL 62701"] for i in range(12_000)]
    data = text_file(rows)
    assert len(data) > 512 * 1024
    options = LocalPipelineOptions(
        emulator_processing_seconds=0,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
        max_file_mb=0.5,
    )
    with LocalPipeline(options) as small:
        record = small.wait(small.drop(data, "too-big.csv"))
        assert record.status == "REJECTED"
        assert len(small.emulator.state.jobs) == 0
        report = json.loads(small.read(record.rejection_report))
        assert report["report"]["errors"][0]["code"] == "too-large"
