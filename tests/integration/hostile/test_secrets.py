"""The key never leaves Secrets Manager: run jobs that complete, are rejected, are aborted by
the provider, meet transient faults, vanish, and run with a wrong key stored in the secret;
then search every log line, printed line, S3 object version, DynamoDB item, execution
history and exception text for the key (and the wrong key) in any form.
"""

from __future__ import annotations

import pytest
from hostile_corpus import FAST_OPTIONS, isolated_pipeline
from local_pipeline.stack import LocalPipelineOptions
from secret_scan import EXPECTED_OUTCOMES, LogCollector, forms, run_secret_scenario, scan_pipeline

pytestmark = pytest.mark.integration

KEY = "SECRET-KEY-7f3a9c-DO-NOT-LEAK"
WRONG_KEY = "WRONG-KEY-3b8e1d-DO-NOT-LEAK"


@pytest.fixture(scope="module")
def pipeline():
    with isolated_pipeline(LocalPipelineOptions(key=KEY, **FAST_OPTIONS)) as local:
        yield local


def test_the_key_appears_nowhere(pipeline, capfd):
    with LogCollector() as logs:
        records = run_secret_scenario(pipeline, KEY, WRONG_KEY)
    printed = capfd.readouterr()

    statuses = {name: (r.status, (r.error or {}).get("type")) for name, r in records.items()}
    assert statuses == EXPECTED_OUTCOMES
    assert pipeline.emulator.state.faults_injected, "the flaky job met no fault"
    assert any(i.error_type for i in pipeline.lambdas.invocations), (
        "no exception text was produced to search"
    )

    extra = {
        "captured stdout": printed.out,
        "captured stderr": printed.err,
        "log records": "\n".join(logs.lines),
        "job records": "\n".join(repr(r) for r in records.values()),
    }
    result = scan_pipeline(pipeline, [KEY, WRONG_KEY], extra_text=extra)
    searched = ", ".join(f"{n} {kind}" for kind, n in result.places.items())
    n_forms = len(forms(KEY)) + len(forms(WRONG_KEY))
    print(f"\nkey occurrences found: {len(result.hits)} (forms: {n_forms}; searched: {searched})")
    assert not result.hits, "\n".join(
        f"{h.where}: {h.form!r} in ...{h.excerpt}..." for h in result.hits[:20]
    )
    assert result.places["S3 object versions"] >= 5 and result.places["DynamoDB items"] >= 6


def test_the_scanner_finds_a_planted_key(pipeline):
    """The search is real: a key written where the pipeline writes is found."""
    s3 = pipeline.client("s3")
    planted = s3.put_object(
        Bucket=pipeline.bucket,
        Key="results/planted/job.json",
        Body=f'{{"url": "http://x/?key={KEY.lower()}"}}'.encode(),
    )
    try:
        result = scan_pipeline(pipeline, [KEY], extra_text={"a log line": f"GET /jobs?key={KEY}"})
        assert {h.where for h in result.hits} == {
            "s3://" + pipeline.bucket + "/results/planted/job.json",
            "a log line",
        }
    finally:
        s3.delete_object(
            Bucket=pipeline.bucket, Key="results/planted/job.json", VersionId=planted["VersionId"]
        )
