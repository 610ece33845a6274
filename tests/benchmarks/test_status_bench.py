"""Status loop benchmark: how soon a finished job is noticed, and for how many checks, when the
provider reports no progress (the safe assumption: the Dataflow service may say 0 until done).

For each job length, the checks the poll loop makes with the deployed defaults (5 s to 300 s,
``status.next_wait``), and the worst delay: a job that ends just after a check is seen at the
next one. Goal: within max(10 s, 10% of the job's length), and a 12-hour job with >= 5x fewer
checks than a fixed 30-second loop. Prints one table (``make bench``); nothing is timed.
"""

from __future__ import annotations

import pytest
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.status import next_wait

pytestmark = pytest.mark.benchmark

ENV = {"JOBS_TABLE_NAME": "jobs", "BUCKET_NAME": "b", "BING_MAPS_KEY_SECRET_ARN": "arn",
       "DATAFLOW_ENDPOINT": "https://x"}  # fmt: skip
LENGTHS = [("1 min", 60), ("5 min", 300), ("10 min", 600), ("30 min", 1800), ("1 h", 3600),
           ("3 h", 3 * 3600), ("6 h", 6 * 3600), ("12 h", 12 * 3600)]  # fmt: skip


def check_times(config: PipelineConfig, until: float) -> list[float]:
    times = [config.initial_wait_seconds]
    while times[-1] < until:
        times.append(times[-1] + next_wait(len(times), config, None, None, elapsed=times[-1]))
    return times


def test_status_loop_notices_a_finished_job_in_time(capsys):
    config = PipelineConfig.from_env(ENV)
    rows = []
    for label, seconds in LENGTHS:
        times = check_times(config, seconds)
        # The worst moment to end: just after the last check before ``seconds``.
        before = max(t for t in times if t < seconds)
        delay = min(t for t in times if t >= seconds) - before
        allowance = max(10.0, 0.10 * seconds)
        fixed = seconds / 30
        rows.append((label, len(times), delay, allowance, fixed))
    with capsys.disabled():
        print("\nstatus loop, no progress counts (defaults: 5 s to 300 s, 9.5% of the age)")
        print(f"{'job':>7} | {'checks':>6} | {'worst delay':>11} | {'allowed':>8} | 30 s loop")
        for label, checks, delay, allowance, fixed in rows:
            print(
                f"{label:>7} | {checks:>6} | {delay:>9.0f} s | {allowance:>6.0f} s "
                f"| {fixed:5.0f} checks ({fixed / checks:.1f}x)"
            )
