"""template.yaml: the offline validators, and the properties the design relies on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from local_pipeline import template as tpl

ROOT = Path(__file__).resolve().parents[2]


def _tool(env_name: str, fallback: str) -> str | None:
    path = os.environ.get(env_name) or shutil.which(fallback)
    if path and Path(path).exists():
        return path
    if os.environ.get("REQUIRE_TOOLS"):
        pytest.fail(f"{fallback} is required (run `make test`, which installs it)")
    pytest.skip(f"{fallback} not installed; `make test` installs it")
    return None


@pytest.fixture(scope="module")
def template() -> dict:
    return tpl.load_template()


def test_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(ROOT / "template.yaml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_passes_sam_validate_lint():
    sam = _tool("SAM_CLI", "sam")
    result = subprocess.run(
        [sam, "validate", "--lint", "--region", "us-east-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("machine", ["JobStateMachine", "EngineStateMachine"])
def test_state_machine_passes_asl_validator(tmp_path, template, machine):
    validator = _tool("ASL_VALIDATOR", "asl-validator")
    definition = template["Resources"][machine]["Properties"]["Definition"]
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))  # asl-validator accepts ${Placeholders}
    result = subprocess.run(
        [validator, "--json-path", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _python312_path() -> str | None:
    """A directory holding a real python3.12 (pyenv's shim is not one unless 3.12 is active)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in sorted(pyenv_root.glob("versions/3.12*/bin"), reverse=True):
        if (candidate / "python3.12").exists():
            return str(candidate)
    return None


@pytest.mark.slow
def test_sam_build_succeeds(tmp_path):
    sam = _tool("SAM_CLI", "sam")
    extra = _python312_path()
    if extra is None and not shutil.which("python3.12"):
        if os.environ.get("REQUIRE_TOOLS"):
            pytest.fail("sam build needs a python3.12 on PATH (pyenv 3.12 is used when present)")
        pytest.skip("no python3.12 for sam build")
    env = dict(os.environ)
    if extra:
        env["PATH"] = f"{extra}{os.pathsep}{env['PATH']}"
    env.pop("PYENV_VERSION", None)
    build_dir = tmp_path / "build"
    result = subprocess.run(
        [sam, "build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "geocode_dataflow" / "pipeline" / "submit.py").exists()
    assert (layer / "defusedxml").exists() and (layer / "aws_lambda_powertools").exists()
    # Local-only code never reaches Lambda.
    assert not (layer / "dataflow_emulator").exists() and not (layer / "moto").exists()
    for name in (
        "SubmitJobFunction",
        "CheckJobStatusFunction",
        "DownloadResultsFunction",
        "RecordFailureFunction",
        "GeocodeChunkFunction",
    ):
        assert (build_dir / name / "app.py").exists()


def test_every_lambda_task_retries_lambda_service_errors_and_is_caught(template):
    states = template["Resources"]["JobStateMachine"]["Properties"]["Definition"]["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert tasks, "the state machine has Lambda tasks"
    for name, state in tasks.items():
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert state["OutputPath"] == "$.Payload", name
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert {
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        } <= retried, name
        if name != "Record Failure":
            assert (
                state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
                and state["Catch"][0]["Next"] == "Record Failure"
            )


def test_poll_loop_is_total_and_bounded(template):
    definition = template["Resources"]["JobStateMachine"]["Properties"]["Definition"]
    states = definition["States"]
    assert definition["TimeoutSeconds"] > 12 * 3600
    checks, cap = (
        int(template["Parameters"][p]["Default"]) for p in ("MaxStatusChecks", "MaxWaitSeconds")
    )
    assert checks * cap > 24 * 3600, "the attempt counter allows well beyond the service's 12 hours"
    assert states["Wait For Job"]["SecondsPath"] == "$.wait_seconds"
    for state in states.values():
        if state["Type"] == "Choice":
            assert "Default" in state
    pending_rules = [c for c in states["Job Finished?"]["Choices"] if "And" in c]
    assert pending_rules and pending_rules[0]["And"][1]["NumericLessThanPath"] == "$.max_attempts"


def test_no_wildcard_actions_in_inline_policies(template):
    for logical_id, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if not isinstance(policy, dict) or "Statement" not in policy:
                continue
            for statement in policy["Statement"]:
                actions = (
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                assert all("*" not in action for action in actions), (logical_id, actions)


def test_bucket_is_private_encrypted_and_tls_only(template):
    props = template["Resources"]["DataBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statement = template["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ][0]
    assert (
        statement["Effect"] == "Deny"
        and statement["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    )


def test_table_has_pitr_ttl_and_status_index(template):
    props = template["Resources"]["JobsTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    index = props["GlobalSecondaryIndexes"][0]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["status", "created_at"]


def test_input_notifications_cover_every_accepted_suffix(template):
    filters = tpl.s3_event_filters(template, "SubmitJobFunction")
    assert {prefix for prefix, _ in filters} == {"inbox/"}
    lower = {".xml", ".csv", ".tab", ".tsv", ".txt", ".pipe", ".gz", ".xlsx"}
    assert {suffix for _, suffix in filters} == lower | {s.upper() for s in lower}


def test_every_function_logs_to_its_own_log_group_with_retention(template):
    resources = template["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for name, function in functions.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        props = resources[group]["Properties"]
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        # Named without the function, so the group exists before the function can run.
        assert name not in json.dumps(props["LogGroupName"]), name
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)


def test_transient_errors_are_retried_by_their_exact_class_names(template):
    from geocode_dataflow import errors
    from geocode_dataflow.pipeline import slots

    states = template["Resources"]["JobStateMachine"]["Properties"]["Definition"]["States"]
    transient = {
        cls.__name__
        for module in (errors, slots)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, errors.TransientError)
    }
    for name in ("Check Job Status", "Download Results"):
        retried = {e for r in states[name]["Retry"] for e in r["ErrorEquals"]}
        assert transient <= retried, (name, transient - retried)
        assert {"ClientError", "Runtime.ExitError", "Sandbox.Timedout"} <= retried


def test_engine_chunks_are_retried_resumed_and_never_lost(template):
    definition = template["Resources"]["EngineStateMachine"]["Properties"]["Definition"]
    mapped = definition["States"]["Geocode Chunks"]
    assert mapped["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert mapped["MaxConcurrencyPath"] == "$.max_concurrency"
    states = mapped["ItemProcessor"]["States"]
    chunk = states["Geocode Chunk"]
    retried = {e for r in chunk["Retry"] for e in r["ErrorEquals"]}
    assert {"Runtime.ExitError", "Sandbox.Timedout", "ServiceUnavailableError"} <= retried
    assert {"ProviderThrottledError", "Lambda.ServiceException"} <= retried
    # Whatever still fails puts the chunk's entities in the failed set (nothing dropped) ...
    assert chunk["Catch"][-1] == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.error",
        "Next": "Fail Chunk",
    }
    # ... except a refusal of the provider itself, which fails the job.
    assert states[chunk["Catch"][0]["Next"]]["Type"] == "Fail"
    assert states["Chunk Done?"]["Default"] == "Chunk Geocoded"


def test_chunk_function_may_call_exactly_the_two_places_actions(template):
    statements = [
        st
        for policy in template["Resources"]["GeocodeChunkFunction"]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for st in policy["Statement"]
    ]
    geo = [st for st in statements if any(a.startswith("geo") for a in st["Action"])]
    assert [sorted(st["Action"]) for st in geo] == [
        ["geo-places:Geocode", "geo-places:ReverseGeocode"]
    ]
    assert "provider/default" in geo[0]["Resource"]["Fn::Sub"]


def test_the_bing_key_is_required_only_for_bing(template):
    assert template["Parameters"]["BingMapsKeySecretArn"]["Default"] == ""
    rule = template["Rules"]["BingNeedsItsKey"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Provider"}, "BingDataflow"]}
    for logical_id, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy:
                raise AssertionError(f"{logical_id} reads the secret even without Bing")


def _statements(template, logical_id):
    return [
        st
        for policy in template["Resources"][logical_id]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for st in policy["Statement"]
    ]


def _dynamodb_actions(template, logical_id) -> set[str]:
    return {
        action
        for st in _statements(template, logical_id)
        for action in st["Action"]
        if action.startswith("dynamodb:")
    }


def test_functions_get_only_the_dynamodb_actions_their_code_uses(template):
    functions = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    for logical_id in functions:
        policies = template["Resources"][logical_id]["Properties"]["Policies"]
        assert not any(isinstance(p, dict) and "DynamoDBCrudPolicy" in p for p in policies)
    reads_and_updates = {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert _dynamodb_actions(template, "CheckJobStatusFunction") == reads_and_updates
    assert _dynamodb_actions(template, "GeocodeChunkFunction") == reads_and_updates
    assert _dynamodb_actions(template, "SubmitJobFunction") == reads_and_updates | {
        "dynamodb:PutItem"
    }
    for dispatching in (
        "DownloadResultsFunction",
        "RecordFailureFunction",
        "DispatchQueuedFunction",
    ):
        assert _dynamodb_actions(template, dispatching) == reads_and_updates | {
            "dynamodb:PutItem",
            "dynamodb:Query",
        }
    for logical_id in functions:
        for st in _statements(template, logical_id):
            if any(a.startswith("dynamodb:") for a in st["Action"]):
                assert "Scan" not in str(st["Action"]) and "Delete" not in str(st["Action"])


def test_rejection_reports_and_their_old_versions_expire_and_inputs_may(template):
    rules = template["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    plain = {r["Id"]: r for r in rules if "Id" in r}
    assert plain["ExpireRejectionReports"]["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    conditional = [r["Fn::If"] for r in rules if "Fn::If" in r]
    assert [c[0] for c in conditional] == ["ExpiresInputs"]
    inputs = conditional[0][1]
    assert inputs["Prefix"] == "inbox/"
    assert inputs["ExpirationInDays"] == {"Ref": "InputExpirationDays"}
    assert inputs["NoncurrentVersionExpiration"]["NoncurrentDays"] == {"Ref": "InputExpirationDays"}
    assert template["Parameters"]["InputExpirationDays"]["Default"] == 0


def test_a_poison_file_raises_an_alarm(template):
    alarm = template["Resources"]["PoisonFileAlarm"]["Properties"]
    assert alarm["MetricName"] == "JobsUnvalidated"
    assert alarm["Namespace"] == "GeocodeDataflow"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def _s3_grants(template, logical_id) -> set[tuple[str, str]]:
    grants = set()
    for st in _statements(template, logical_id):
        resource = st["Resource"]
        text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else str(resource)
        prefix = text.rsplit("}", 1)[-1]
        grants |= {(a, prefix) for a in st["Action"] if a.startswith("s3:")}
    return grants


def test_functions_that_make_tables_or_merge_parts_can_read_and_write_what_they_need(template):
    for logical_id in ("DownloadResultsFunction", "RecordFailureFunction"):
        grants = _s3_grants(template, logical_id)
        assert ("s3:GetObject", "/results/*") in grants, logical_id  # results.csv from the sets
        assert ("s3:GetObject", "/work/*") in grants and ("s3:PutObject", "/work/*") in grants
        assert ("s3:GetObject", "/inbox/*") in grants  # the input, read back for the table
    for logical_id in ("SubmitJobFunction", "DispatchQueuedFunction"):
        assert ("s3:PutObject", "/work/*") in _s3_grants(template, logical_id)  # parts, chunks
