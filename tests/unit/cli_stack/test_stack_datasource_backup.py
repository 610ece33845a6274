"""`geocode-dataflow stack datasource-backup` (and `stack status` of a backup) against a
deployed stack played by moto: the stack of test_stack_cli with the backup state machine and
its output added."""

from __future__ import annotations

import json

import boto3
import pytest
from geocode_dataflow.cli import stack as stack_cli
from geocode_dataflow.cli import stack_backup
from geocode_dataflow.pipeline import jobs
from moto import mock_aws
from test_stack_cli import REGION, STACK, Deployed, at, run, stack_template

ACCESS_ID = "a92dcfac8a0894bc4921ad5c74022623"


def with_backups(**template: object) -> str:
    document = json.loads(stack_template(**template))
    document["Resources"]["DataSourceBackupStateMachine"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "StateMachineName": f"{STACK}-datasource-backups",
            "RoleArn": {"Fn::GetAtt": ["LambdaRole", "Arn"]},
            "DefinitionString": json.dumps(
                {
                    "StartAt": "Wait",
                    "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}},
                }
            ),
        },
    }
    document["Outputs"][stack_backup.BACKUP_OUTPUT] = {
        "Value": {"Ref": "DataSourceBackupStateMachine"}
    }
    # As template.yaml's Globals give every function (stack cancel reads the dispatcher's).
    variables = document["Resources"]["DispatchQueuedFunction"]["Properties"]["Environment"]
    variables["Variables"]["DATASOURCE_BACKUP_STATE_MACHINE_ARN"] = {
        "Ref": "DataSourceBackupStateMachine"
    }
    return json.dumps(document)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the command sets it
    monkeypatch.delenv(stack_cli.STACK_ENV, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def deployed(aws, monkeypatch):
    monkeypatch.setattr("test_stack_cli.stack_template", with_backups)
    return Deployed()


def test_stack_datasource_backup_starts_an_execution_named_after_the_job(deployed, capsys):
    code, out, err = run(capsys, "datasource-backup", ACCESS_ID, "MyDataSource", "--version", "v2")

    assert (code, err) == (0, "")
    job_id = out.split()[1]
    assert job_id.startswith("MyDataSource-") and f"stack status {job_id}" in out
    machine = deployed.outputs[stack_backup.BACKUP_OUTPUT]
    (execution,) = deployed.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"] == job_id
    started = json.loads(
        deployed.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert started == {
        "job_id": job_id,
        "data_source": {"access_id": ACCESS_ID, "name": "MyDataSource", "version": "v2"},
    }


def test_stack_datasource_backup_waits_and_says_when_the_backup_has_not_ended(
    deployed, capsys, monkeypatch
):
    monkeypatch.setattr(stack_backup, "POLL_SECONDS", 0.05)
    code, out, err = run(capsys, "datasource-backup", ACCESS_ID, "MyDataSource", "--wait", "0.2")
    assert code == 5
    assert "has not ended yet" in err


def test_stack_datasource_backup_needs_a_stack_with_backups(aws, capsys):
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=STACK, TemplateBody=stack_template()
    )
    code, _, err = run(capsys, "datasource-backup", ACCESS_ID, "MyDataSource")
    assert code == 2
    assert stack_backup.BACKUP_OUTPUT in err


def test_stack_status_of_a_backup_shows_its_data_source_and_what_it_equals(deployed, capsys):
    deployed.job(
        "MyDataSource-0123",
        jobs.COMPLETED,
        at(1),
        kind=jobs.DATASOURCE_BACKUP,
        data_source={"access_id": ACCESS_ID, "name": "MyDataSource"},
        unchanged_since="MyDataSource-0042",
    )
    code, out, _ = run(capsys, "status", "MyDataSource-0123")
    assert code == 0
    assert "kind:           datasource-backup" in out
    assert f"data source:    {ACCESS_ID}/MyDataSource" in out
    assert "same content as backup MyDataSource-0042" in out


def test_stack_cancel_of_a_running_backup_stops_its_execution(deployed, capsys):
    machine = deployed.outputs[stack_backup.BACKUP_OUTPUT]
    job_id = "MyDataSource-0abc"
    deployed.job(
        job_id,
        jobs.PENDING,
        at(1),
        kind=jobs.DATASOURCE_BACKUP,
        data_source={"access_id": ACCESS_ID, "name": "MyDataSource"},
        provider_job_id="download-1",
    )
    execution = deployed.sfn.start_execution(stateMachineArn=machine, name=job_id, input="{}")

    code, out, _ = run(capsys, "cancel", job_id, "--reason", "not needed")

    assert code == 0 and "CANCELLED (cancelled while PENDING)" in out
    stopped = deployed.sfn.describe_execution(executionArn=execution["executionArn"])
    assert stopped["status"] == "ABORTED"
    record = deployed.store.get(job_id)
    assert record.status == jobs.CANCELLED
    assert record.error == {"type": "JobCancelledError", "message": "not needed"}
