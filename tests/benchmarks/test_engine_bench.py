"""Engine benchmark: a job against an emulated account limited to R requests per second, the
pipeline paced to the same R: Amazon Location (R = 50, one entity per request) and Azure Maps
(R = 10, 100 entities per request: a ceiling of 1,000 entities/s). Goal: >= 0.9 x the ceiling,
no request throttled.

Prints one table per provider (``make bench``); nothing is asserted on time. BENCH_ENTITIES
(default 20000), BENCH_RATE_AMAZON and BENCH_RATE_AZURE change the job.
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
            lines.append(f'b{i},"{PLACES[i % len(PLACES)]}"')  # the query holds a comma
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.timeout(3600)
@pytest.mark.parametrize(
    ("provider", "default_rate", "batch"),
    [("amazon-location", 50.0, 1), ("azure-maps", 10.0, 100)],
)
def test_engine_throughput_against_a_rate_limited_provider(provider, default_rate, batch):
    entities = int(os.environ.get("BENCH_ENTITIES", "20000"))
    rate = float(os.environ.get(f"BENCH_RATE_{provider.split('-')[0].upper()}", default_rate))
    emulator = {"rate_limit": rate}
    options = LocalPipelineOptions(
        provider=provider,
        requests_per_second=rate,
        location_options=emulator if provider == "amazon-location" else {},
        azure_options=emulator if provider == "azure-maps" else {},
        initial_wait_seconds=1,
        min_wait_seconds=1,
        max_wait_seconds=5,
    )
    with LocalPipeline(options) as pipeline:
        pipeline.emulator.state.reset()
        started = time.monotonic()
        job_id = pipeline.drop(feed(entities), "bench.csv")
        record = pipeline.wait(job_id, timeout=30 * entities / (rate * batch) + 600)
        elapsed = time.monotonic() - started
        stats = pipeline.emulator.state.snapshot()
        stamps = pipeline.emulator.state.accepted_timestamps
        environments = pipeline.lambdas.environment_count("GeocodeChunkFunction")
    assert record.status == "COMPLETED", record.error
    ceiling = rate * batch  # entities per second the provider's quota allows
    requests = sum(stats["requests"].values())
    geocoding = (stamps[-1] - stamps[0]) if len(stamps) > 1 else elapsed
    steady = entities / geocoding if geocoding else 0.0
    end_to_end = entities / elapsed
    rows = [
        ("entities / provider requests", f"{entities} / {requests}"),
        (
            "quota: requests/s x entities per request",
            f"{rate:g} x {batch} = {ceiling:g} entities/s",
        ),
        (
            "entities/s while geocoding (first to last request)",
            f"{steady:.1f} = {steady / ceiling:.2f} x the ceiling",
        ),
        (
            "entities/s end to end (drop to COMPLETED)",
            f"{end_to_end:.1f} = {end_to_end / ceiling:.2f} x the ceiling",
        ),
        (
            "most requests in any 1 s window at the provider",
            f"{stats['max_accepted_per_second']} (limit {rate:g})",
        ),
        ("throttled requests", f"{stats['throttled']}"),
        ("chunk environments started", f"{environments}"),
        ("job time, of which geocoding (s)", f"{elapsed:.1f}, {geocoding:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\n\nengine benchmark: {provider} emulator, local pipeline")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
