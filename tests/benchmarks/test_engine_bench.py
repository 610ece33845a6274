"""Engine benchmark: a job on Amazon Location against an emulated account limited to R
requests per second, the pipeline paced to the same R. Goal: >= 0.9 x R, no request throttled.

Prints one table (``make bench``); nothing is asserted on time. BENCH_ENTITIES (default 20000)
and BENCH_RATE (default 50) change the job.
"""

from __future__ import annotations

import os
import time

import pytest
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

PLACES = ["Denver, CO", "Boise, ID", "Portland, OR", "Austin, TX", "Seattle, WA", "Reno, NV"]


def feed(count: int) -> bytes:
    lines = [
        "Bing Spatial Data Services, 2.0",
        "Id,GeocodeRequest/Query,ReverseGeocodeRequest/Location/Latitude,"
        "ReverseGeocodeRequest/Location/Longitude,GeocodeResponse/Point/Latitude,"
        "GeocodeResponse/Point/Longitude,StatusCode,FaultReason",
    ]
    for i in range(count):
        if i % 5 == 4:
            lines.append(f"b{i},,{40 + i % 7}.1,-{100 + i % 9}.2")
        else:
            lines.append(f"b{i},{PLACES[i % len(PLACES)]}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.timeout(3600)
def test_engine_throughput_against_a_rate_limited_provider():
    entities = int(os.environ.get("BENCH_ENTITIES", "20000"))
    rate = float(os.environ.get("BENCH_RATE", "50"))
    options = LocalPipelineOptions(
        provider="amazon-location",
        requests_per_second=rate,
        location_options={"rate_limit": rate},
        initial_wait_seconds=1,
        min_wait_seconds=1,
        max_wait_seconds=5,
    )
    with LocalPipeline(options) as pipeline:
        pipeline.emulator.state.reset()
        started = time.monotonic()
        job_id = pipeline.drop(feed(entities), "bench.csv")
        record = pipeline.wait(job_id, timeout=30 * entities / rate + 600)
        elapsed = time.monotonic() - started
        stats = pipeline.emulator.state.snapshot()
        stamps = pipeline.emulator.state.accepted_timestamps
        environments = pipeline.lambdas.environment_count("GeocodeChunkFunction")
    assert record.status == "COMPLETED", record.error
    requests = sum(stats["requests"].values())
    geocoding = (stamps[-1] - stamps[0]) if len(stamps) > 1 else elapsed
    steady = (len(stamps) - 1) / geocoding if geocoding else 0.0
    end_to_end = entities / elapsed
    rows = [
        ("entities / provider requests", f"{entities} / {requests}"),
        ("configured rate R (requests/s)", f"{rate:g}"),
        (
            "requests/s while geocoding (first to last request)",
            f"{steady:.1f} = {steady / rate:.2f} x R",
        ),
        (
            "entities/s end to end (drop to COMPLETED)",
            f"{end_to_end:.1f} = {end_to_end / rate:.2f} x R",
        ),
        ("most requests in any 1 s window at the provider", f"{stats['max_accepted_per_second']}"),
        ("throttled requests", f"{stats['throttled']}"),
        ("chunk environments started", f"{environments}"),
        ("job time, of which geocoding (s)", f"{elapsed:.1f}, {geocoding:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n\nengine benchmark (Amazon Location emulator, local pipeline)")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
