"""Embedded geocoder benchmark: the world-places list (tests/fixtures/geocoder/world_places.csv,
independent coordinates) forward and reverse, and what the gazetteer costs a fresh process to
load (time and resident memory). Prints figures (``make bench``); asserts nothing on them.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geocode_dataflow.schema.model import Address, GeocodeRequest, ReverseGeocodeRequest
from offline_geocoder import Geocoder, distance_km, fold

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLACES = ROOT / "tests" / "fixtures" / "geocoder" / "world_places.csv"

# Run in a fresh interpreter: the figures of a process that has loaded nothing else.
LOAD = """
import json, resource, time
started = time.perf_counter()
from offline_geocoder import get_gazetteer
get_gazetteer()
seconds = time.perf_counter() - started
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
print(json.dumps({"seconds": seconds, "rss_mib": rss / 1024,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def load_figures(runs: int = 3) -> list[dict]:
    path = [str(ROOT / "layers" / "shared"), str(ROOT / "layers" / "local")]
    env = {"PYTHONPATH": ":".join(path)}
    figures = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=True
        )
        figures.append(json.loads(out.stdout))
    return figures


def test_geocoder_world_places_bench():
    loads = load_figures()
    geocoder = Geocoder()
    gazetteer = geocoder.gazetteer
    with PLACES.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    errors, reverse_hits, misses = [], 0, []
    started = time.perf_counter()
    for row in rows:
        lat, lon = float(row["latitude"]), float(row["longitude"])
        request = GeocodeRequest(
            query=row["query"], address=Address(country_region=row["country"] or None)
        )
        responses = geocoder.forward(request)
        error = (
            distance_km(
                float(responses[0].point.latitude), float(responses[0].point.longitude), lat, lon
            )
            if responses
            else float("inf")
        )
        errors.append(error)
        if error > 25:
            misses.append(f"{row['query']} ({responses[0].name if responses else 'nothing'})")
        locality = geocoder.parse_query(row["query"]).locality or row["query"]
        asked = {fold(p.name) for p in gazetteer.places_named(locality)}
        named = geocoder.reverse(
            ReverseGeocodeRequest(
                latitude=row["latitude"],
                longitude=row["longitude"],
                include_entity_types="PopulatedPlace",
            )
        )
        reverse_hits += bool(named) and fold(named[0].address.locality) in asked
    elapsed = time.perf_counter() - started

    within = sum(e <= 25 for e in errors)
    print()
    print(f"world places: {len(rows)} (independent coordinates)")
    print(f"  within 25 km: {within}/{len(rows)} = {within / len(rows):.1%}")
    print(f"  median error: {statistics.median(errors):.1f} km")
    print(f"  reverse geocoding names the place: {reverse_hits}/{len(rows)}")
    print(f"  forward + reverse of the list: {elapsed:.2f} s")
    if misses:
        print(f"  over 25 km: {', '.join(misses)}")
    best_load = min(loads, key=lambda f: f["seconds"])
    print(
        f"gazetteer load in a fresh process (best of {len(loads)}): "
        f"{best_load['seconds']:.2f} s, RSS {best_load['rss_mib']:.0f} MiB, "
        f"peak {best_load['peak_mib']:.0f} MiB"
    )
