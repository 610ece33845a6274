"""template.yaml, data source backups: the state machine's shape, and each backup function's
permissions (exactly what its code uses, the master key only through its own secret)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from local_pipeline import template as tpl

MACHINE = "DataSourceBackupStateMachine"
FUNCTIONS = (
    "StartDataSourceBackupFunction",
    "CheckDataSourceBackupFunction",
    "StoreDataSourceBackupFunction",
    "ScheduleDataSourceBackupsFunction",
)
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def template() -> dict:
    return tpl.load_template()


def _states(template):
    return template["Resources"][MACHINE]["Properties"]["Definition"]["States"]


# SAM policy templates the backup functions use, as the statements they stand for.
_POLICY_TEMPLATES = {"SNSPublishMessagePolicy": ["sns:Publish"]}


def _statements(policy):
    if "Statement" in policy:
        return policy["Statement"]
    ((name, arguments),) = policy.items()
    return [{"Action": _POLICY_TEMPLATES[name], "Resource": arguments}]


def _policies(template, logical_id):
    """Every statement of the function, with whether it sits behind a condition."""
    found = []
    for policy in template["Resources"][logical_id]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            condition, when_true, _ = policy["Fn::If"]
            found += [(condition, st) for st in _statements(when_true)]
        else:
            found += [(None, st) for st in _statements(policy)]
    return found


def _actions(template, logical_id, prefix):
    return {
        action
        for _, st in _policies(template, logical_id)
        for action in st["Action"]
        if action.startswith(prefix)
    }


def test_backup_state_machine_passes_asl_validator(tmp_path, template):
    validator = os.environ.get("ASL_VALIDATOR") or shutil.which("asl-validator")
    if not validator or not Path(validator).exists():
        if os.environ.get("REQUIRE_TOOLS"):
            pytest.fail("asl-validator is required (run `make test`, which installs it)")
        pytest.skip("asl-validator not installed; `make test` installs it")
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(template["Resources"][MACHINE]["Properties"]["Definition"]))
    result = subprocess.run(
        [validator, "--json-path", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_backup_tasks_retry_lambda_and_transient_errors_and_end_in_record_backup_failure(
    template,
):
    from geocode_dataflow import errors

    transient = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.TransientError)
    }
    tasks = {n: s for n, s in _states(template).items() if s["Type"] == "Task"}
    assert set(tasks) == {"Start Download", "Check Download Status", "Store Backup",
                          "Record Backup Failure"}  # fmt: skip
    for name, state in tasks.items():
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert state["OutputPath"] == "$.Payload", name
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert LAMBDA_ERRORS <= retried, name
        if name != "Record Backup Failure":
            assert transient <= retried, (name, transient - retried)
            assert state["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                 "Next": "Record Backup Failure"}
            ]  # fmt: skip


def test_backup_poll_loop_is_the_geocode_jobs_one(template):
    backup, job = (
        _states(template),
        (template["Resources"]["JobStateMachine"]["Properties"]["Definition"]["States"]),
    )
    assert backup["Wait For Download"]["SecondsPath"] == "$.wait_seconds"
    rename = {"Wait For Job": "Wait For Download", "Download Results": "Store Backup",
              "Record Failure": "Record Backup Failure"}  # fmt: skip
    expected = json.loads(
        json.dumps(job["Job Finished?"]), object_hook=lambda d: {
            k: rename.get(v, v) if k in ("Next", "Default") else v for k, v in d.items()
        }
    )  # fmt: skip
    assert backup["Download Finished?"] == expected
    assert backup["Poll Budget Exhausted"]["Next"] == "Record Backup Failure"
    assert backup["Backup Failed"]["Type"] == "Fail"


def test_backup_functions_get_only_what_their_code_uses(template):
    table = {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert _actions(template, "StartDataSourceBackupFunction", "dynamodb:") == table | {
        "dynamodb:PutItem"
    }
    assert _actions(template, "CheckDataSourceBackupFunction", "dynamodb:") == table
    assert _actions(template, "StoreDataSourceBackupFunction", "dynamodb:") == table
    # Only the function that ends backups announces them (and, with an email, sends it).
    announcing = {"events:PutEvents", "sns:Publish"}
    for logical_id in FUNCTIONS:
        expected = announcing if logical_id == "StoreDataSourceBackupFunction" else set()
        assert (
            _actions(template, logical_id, "events:") | _actions(template, logical_id, "sns:")
            == expected
        ), logical_id
    (sns,) = [c for c, st in _policies(template, "StoreDataSourceBackupFunction")
              if "sns:Publish" in st["Action"]]  # fmt: skip
    assert sns == "HasNotificationEmail"
    assert _actions(template, "ScheduleDataSourceBackupsFunction", "") == {"states:StartExecution"}
    for logical_id in FUNCTIONS[:3]:
        assert _actions(template, logical_id, "s3:") <= {
            "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject",
            "s3:ListBucket",
        }  # fmt: skip
        for _, st in _policies(template, logical_id):
            if any(a.startswith("s3:") for a in st["Action"]):
                resource = json.dumps(st["Resource"])
                assert "datasources/" in resource or st["Condition"]["StringLike"] == {
                    "s3:prefix": "datasources/*"
                }
    assert not _actions(template, "StartDataSourceBackupFunction", "s3:")


def test_the_master_key_is_read_only_from_its_own_secret_and_only_when_there_is_one(template):
    for logical_id in FUNCTIONS[:3]:
        secret = [(c, st) for c, st in _policies(template, logical_id)
                  if any(a.startswith("secretsmanager:") for a in st["Action"])]  # fmt: skip
        assert secret == [
            ("HasMasterKeySecret", {
                "Sid": "ReadMasterKey", "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": {"Ref": "DataSourceMasterKeySecretArn"},
            })
        ]  # fmt: skip
        env = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert env["DATASOURCE_MASTER_KEY_SECRET_ARN"] == {"Ref": "DataSourceMasterKeySecretArn"}
    assert not _actions(template, "ScheduleDataSourceBackupsFunction", "secretsmanager:")


def test_the_schedule_exists_only_with_a_schedule_expression(template):
    resources = template["Resources"]
    function = resources["ScheduleDataSourceBackupsFunction"]
    assert function["Condition"] == "HasBackupSchedule"
    assert resources["ScheduleDataSourceBackupsLogGroup"]["Condition"] == "HasBackupSchedule"
    (event,) = function["Properties"]["Events"].values()
    assert event == {
        "Type": "Schedule",
        "Properties": {
            "Schedule": {"Ref": "BackupSchedule"},
            "Description": "Back up the data sources listed in BackupDataSources",
        },
    }
    rule = template["Rules"]["BackupScheduleNeedsSourcesAndKey"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BackupSchedule"}, ""]}]}


def test_the_dashboard_shows_the_backups_executions_and_function_errors(template):
    body = template["Resources"]["PipelineDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    assert names <= {"AWS::Region", *template["Resources"]}  # every reference resolves
    dashboard = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))
    widgets = {w["properties"]["title"]: w["properties"]["metrics"] for w in dashboard["widgets"]}
    executions = widgets["Data source backups"]
    assert executions[0][:4] == ["AWS/States", "ExecutionsStarted", "StateMachineArn", MACHINE]
    assert "ExecutionsAborted" in {row[1] for row in executions[1:]}  # cancelled backups
    errors = widgets["Backup function errors"]
    assert [errors[0][3], *(row[1] for row in errors[1:])] == list(FUNCTIONS[:3])
