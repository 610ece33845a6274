"""checkov on template.yaml, offline: no failed check, and every suppression is justified.

A suppression (``Metadata: checkov: skip: [{id, comment}]``) must say why in its comment and
must still apply (checkov reports it as skipped for that resource), so stale ones go away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_pipeline import template as tpl

ROOT = Path(__file__).resolve().parents[2]
# `make test` installs it in a virtualenv of its own (it pins boto3) and names it in $CHECKOV.
CHECKOV = Path(os.environ.get("CHECKOV") or Path(sys.executable).with_name("checkov"))
# Signs in checkov's log that it tried to reach Prisma Cloud / Bridgecrew.
NETWORK_SIGNS = ("prismacloud.io", "bridgecrew.cloud", "Failed to get the checkov mappings")


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV} (make test installs it: .venv-checkov)")
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",  # no download of the guideline mappings
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("BC_API_KEY", None)
    result = subprocess.run(
        [str(CHECKOV), "-f", "template.yaml", "--framework", "cloudformation", "--skip-download",
         "--compact", "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-4000:]
    assert not [s for s in NETWORK_SIGNS if s in result.stderr], (
        "checkov tried the network:\n" + result.stderr
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def suppressions() -> list[tuple[str, str, str]]:
    """(resource, check id, comment) of every checkov skip in template.yaml."""
    found = []
    for name, resource in tpl.load_template()["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            found.append((name, str(skip.get("id", "")), str(skip.get("comment") or "").strip()))
    return found


def test_checkov_read_the_whole_template(checkov_report):
    assert checkov_report["check_type"] == "cloudformation"
    assert checkov_report["summary"]["parsing_errors"] == 0
    evaluated = {c["resource"] for c in checkov_report["results"]["passed_checks"]}
    assert "AWS::Serverless::Function.SubmitJobFunction" in evaluated
    assert (
        "AWS::S3::Bucket.DataBucket" in evaluated and "AWS::DynamoDB::Table.JobsTable" in evaluated
    )


def test_template_has_no_failed_checkov_check(checkov_report):
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    summary = checkov_report["summary"]
    passed, skipped = summary["passed"], summary["skipped"]
    print(f"\ncheckov: {passed} passed, {len(failed)} failed, {skipped} suppressed")
    assert not failed, "fix the resource, or suppress with a comment saying why:\n" + "\n".join(
        failed
    )


def test_every_suppression_says_why():
    found = suppressions()
    assert found, "no suppression found: has the Metadata layout changed?"
    vague = [(r, i, c) for r, i, c in found if not i.startswith("CKV") or len(c) < 20]
    assert not vague, f"suppressions need a check id and a real comment: {vague}"


def test_every_suppression_still_applies(checkov_report):
    skipped = {
        (c["resource"].split(".", 1)[1], c["check_id"])
        for c in checkov_report["results"]["skipped_checks"]
    }
    stale = [(r, i) for r, i, _ in suppressions() if (r, i) not in skipped]
    assert not stale, f"suppressions of checks that no longer apply (remove them): {stale}"
    comments = {
        c["check_result"].get("suppress_comment", "")
        for c in checkov_report["results"]["skipped_checks"]
    }
    assert all(comment.strip() for comment in comments), (
        "checkov saw a suppression without a comment"
    )
