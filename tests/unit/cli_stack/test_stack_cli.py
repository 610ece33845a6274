"""`geocode-dataflow stack ...` against a deployed stack played by moto: a CloudFormation stack
whose outputs name a bucket, the jobs table (keys and index from template.yaml) and a state
machine, and whose dispatcher function carries the pipeline's environment."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from geocode_dataflow import cli
from geocode_dataflow.cli import stack as stack_cli
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.jobs import InputObject, JobRecord, JobStore
from local_pipeline import template as tpl
from moto import mock_aws

REGION = "us-east-1"
STACK = "geocode-dataflow"
BUCKET = "geocode-dataflow-123456789012-us-east-1"


def stack_template(
    *, outputs: tuple[str, ...] = stack_cli.REQUIRED_OUTPUTS, environment: dict | None = None
) -> str:
    """The resources the commands read, with template.yaml's table schema, and an extra output
    (DashboardUrl) they must ignore."""
    role = {"Fn::GetAtt": ["LambdaRole", "Arn"]}
    values = {
        "BucketName": {"Ref": "DataBucket"},
        "JobsTableName": {"Ref": "JobsTable"},
        "StateMachineArn": {"Ref": "JobStateMachine"},
    }
    document = {
        "Resources": {
            "DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}},
            "JobsTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": tpl.table_schema(tpl.load_template()),
            },
            "LambdaRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "JobStateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": f"{STACK}-jobs",
                    "RoleArn": role,
                    "DefinitionString": json.dumps(
                        {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
                    ),
                },
            },
            "DispatchQueuedFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "app.lambda_handler",
                    "Role": role,
                    "Code": {"ZipFile": "def lambda_handler(event, context):\n    return {}\n"},
                    "Environment": {
                        "Variables": {
                            "JOBS_TABLE_NAME": {"Ref": "JobsTable"},
                            "BUCKET_NAME": {"Ref": "DataBucket"},
                            "STATE_MACHINE_ARN": {"Ref": "JobStateMachine"},
                            "PROVIDER": "AmazonLocation",
                            "MAX_JOBS_IN_FLIGHT": "10",
                            **(environment or {}),
                        }
                    },
                },
            },
        },
        "Outputs": {
            **{name: {"Value": values[name]} for name in outputs},
            "DashboardUrl": {"Value": "https://console.aws.amazon.com/cloudwatch/home"},
        },
    }
    return json.dumps(document)


class Deployed:
    """The moto stack, and what the tests put in it."""

    def __init__(self, region: str = REGION, name: str = STACK, **template: object) -> None:
        cloudformation = boto3.client("cloudformation", region_name=region)
        cloudformation.create_stack(StackName=name, TemplateBody=stack_template(**template))
        outputs = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        self.region = region
        self.s3 = boto3.client("s3", region_name=region)
        self.sfn = boto3.client("stepfunctions", region_name=region)
        if "JobsTableName" in self.outputs:
            self.table = boto3.resource("dynamodb", region_name=region).Table(
                self.outputs["JobsTableName"]
            )
            self.store = JobStore(self.table)

    def job(self, job_id: str, status: str, created_at: str, **fields: object) -> JobRecord:
        record = JobRecord(
            job_id=job_id,
            status=status,
            input=InputObject(bucket=BUCKET, key=f"inbox/{job_id}.csv", version_id="v1", size=120),
            created_at=created_at,
            updated_at=created_at,
            input_format="csv",
            **fields,
        )
        item = {k: v for k, v in asdict(record).items() if v is not None}
        item["input"] = {k: v for k, v in item["input"].items() if v is not None}
        self.table.put_item(Item=item)
        return record

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return f"s3://{BUCKET}/{key}"


@pytest.fixture
def aws(monkeypatch):
    # The commands set boto3's default session (the pipeline's Runtime uses it): restored after.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.delenv(stack_cli.STACK_ENV, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def deployed(aws):
    return Deployed()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["stack", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def at(hours_ago: float) -> str:
    return jobs.iso(jobs.utc_now() - timedelta(hours=hours_ago))


# --- stack jobs ---------------------------------------------------------------------------------


def test_stack_jobs_lists_every_status_newest_first(deployed, capsys):
    deployed.job("old-done", jobs.COMPLETED, at(30), total_entities=7, processed_entities=7)
    deployed.job("waiting", jobs.QUEUED, at(3), total_entities=5)
    deployed.job("running", jobs.PENDING, at(2), total_entities=1000, processed_entities=400)
    deployed.job("broken", jobs.REJECTED, at(5))
    deployed.job("stopped", jobs.CANCELLED, at(1))
    deployed.job(
        "lost", jobs.FAILED, at(4), total_entities=3, processed_entities=3, failed_entities=3
    )
    deployed.job("claimed", jobs.RECEIVED, at(0.5))

    code, out, err = run(capsys, "jobs")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["JOB", "ID", "STATUS"]
    order = [line.split()[0] for line in lines[1:]]
    assert order == ["claimed", "stopped", "running", "waiting", "lost", "broken", "old-done"]
    running = next(line for line in lines if line.startswith("running"))
    assert "PENDING" in running and "400/1,000" in running and "inbox/running.csv" in running
    assert "3/3 (3 failed)" in next(line for line in lines if line.startswith("lost"))


def test_stack_jobs_reads_the_status_index_and_never_scans(deployed, capsys, monkeypatch):
    deployed.job("a", jobs.COMPLETED, at(2))
    deployed.job("b", jobs.PENDING, at(1))
    queries = []

    class Spy:
        def __init__(self, table):
            self._table = table

        def query(self, **kwargs):
            queries.append(kwargs)
            return self._table.query(**kwargs)

        def scan(self, **kwargs):
            raise AssertionError("stack jobs must not scan the table")

    real = stack_cli.DeployedStack.table
    monkeypatch.setattr(stack_cli.DeployedStack, "table", lambda self: Spy(real(self)))

    code, out, _ = run(capsys, "jobs")

    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["b", "a"]
    assert {q["IndexName"] for q in queries} == {jobs.STATUS_INDEX}
    assert sorted(q["ExpressionAttributeValues"][":s"] for q in queries) == sorted(
        stack_cli.STATUSES
    )
    assert all(q["ScanIndexForward"] is False for q in queries)


def test_stack_jobs_status_and_since_filter(deployed, capsys):
    deployed.job("done-early", jobs.COMPLETED, "2026-11-10T09:00:00.000Z")
    deployed.job("done-late", jobs.COMPLETED, "2026-11-16T09:00:00.000Z")
    deployed.job("failed-late", jobs.FAILED, "2026-11-16T10:00:00.000Z")

    code, out, _ = run(capsys, "jobs", "--status", "completed", "--since", "2026-11-15")

    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["done-late"]

    code, out, _ = run(capsys, "jobs", "--since", "2026-11-16T10:30+01:00")  # 09:30 UTC
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["failed-late"]


def test_stack_jobs_since_an_age(deployed, capsys):
    deployed.job("today", jobs.COMPLETED, at(1))
    deployed.job("last-week", jobs.COMPLETED, at(24 * 6))

    _, out, _ = run(capsys, "jobs", "--since", "2d")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["today"]
    _, out, _ = run(capsys, "jobs", "--since", "1w")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["today", "last-week"]


def test_stack_jobs_limit_takes_the_newest_across_statuses_and_pages(deployed, capsys, monkeypatch):
    monkeypatch.setattr(stack_cli, "PAGE_SIZE", 2)  # several pages per status
    for hour in range(12):
        status = (jobs.COMPLETED, jobs.FAILED, jobs.PENDING)[hour % 3]
        deployed.job(f"job-{hour:02d}", status, at(hour))

    code, out, err = run(capsys, "jobs", "--limit", "5")

    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [f"job-{h:02d}" for h in range(5)]
    assert "--limit 0" in err
    _, out, _ = run(capsys, "jobs", "--limit", "0")
    assert len(out.splitlines()) == 13


def test_stack_jobs_json_and_an_empty_stack(deployed, capsys):
    code, out, _ = run(capsys, "jobs")
    assert (code, out.strip()) == (0, f"no jobs in stack {STACK}")

    deployed.job("one", jobs.COMPLETED, at(1), total_entities=2, outputs={"job": "s3://b/k"})
    code, out, _ = run(capsys, "jobs", "--json")

    assert code == 0
    [document] = json.loads(out)
    assert document["job_id"] == "one" and document["outputs"] == {"job": "s3://b/k"}
    assert document["input"]["uri"] == f"s3://{BUCKET}/inbox/one.csv"


def test_stack_jobs_bad_since_is_a_usage_error(deployed, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["stack", "jobs", "--since", "last tuesday"])

    assert exited.value.code == cli.EXIT_USAGE
    assert "not a date, time or age: 'last tuesday'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-15", "2026-11-15T00:00:00.000Z"),
        ("2026-11-15T08:00:00Z", "2026-11-15T08:00:00.000Z"),
        ("2026-11-15T08:00+01:00", "2026-11-15T07:00:00.000Z"),
        ("2026-11-15 08:00:30.5", "2026-11-15T08:00:30.500Z"),
    ],
)
def test_since_reads_iso_dates_as_the_records_write_them(text, expected):
    assert stack_cli.since(text) == expected


# --- stack status -------------------------------------------------------------------------------


def test_stack_status_shows_the_record_and_its_progress(deployed, capsys):
    deployed.job(
        "addresses-0123",
        jobs.PENDING,
        "2026-11-16T09:00:00.000Z",
        provider="AmazonLocation",
        provider_job_id="arn:aws:states:us-east-1:123456789012:execution:e:addresses-0123",
        total_entities=1000,
        geocode_entities=900,
        reverse_entities=100,
        processed_entities=450,
        succeeded_entities=440,
        failed_entities=10,
        provider_requests=460,
        status_checks=12,
        submitted_at="2026-11-16T09:00:05.000Z",
        last_checked_at="2026-11-16T09:10:00.000Z",
    )

    code, out, _ = run(capsys, "status", "addresses-0123")

    assert code == 0
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["status"] == "PENDING"
    assert fields["input"] == f"s3://{BUCKET}/inbox/addresses-0123.csv (csv, 120 bytes)"
    assert fields["entities"] == "1,000 (900 geocode, 100 reverse)"
    assert fields["progress"] == "450/1,000 processed (45%), 440 succeeded, 10 failed"
    assert fields["status checks"] == "12" and fields["requests"] == "460"
    assert "None" not in out


def test_stack_status_of_an_ended_job_shows_outputs_error_and_summary(deployed, capsys):
    deployed.job(
        "done",
        jobs.COMPLETED,
        "2026-11-16T09:00:00.000Z",
        completed_at="2026-11-16T10:01:02.000Z",
        total_entities=3,
        processed_entities=3,
        outputs={"succeeded": "s3://b/results/done/succeeded.csv", "job": "s3://b/j.json"},
        summary={"matched": 2, "no_match": 1, "failed": 0, "by_confidence": {"High": 2}},
    )
    deployed.job(
        "stopped",
        jobs.CANCELLED,
        "2026-11-16T09:00:00.000Z",
        error={"type": "JobCancelledError", "message": "cancelled by request"},
    )

    _, out, _ = run(capsys, "status", "done")
    assert "took:           1:01:02" in out
    assert "outputs:        job:       s3://b/j.json\n" in out
    assert "\n                succeeded: s3://b/results/done/succeeded.csv\n" in out
    assert "matches:        2 matched, 1 no match, 0 failed" in out
    assert "by confidence:  High 2" in out

    _, out, _ = run(capsys, "status", "stopped", "--json")
    assert json.loads(out)["error"] == {
        "type": "JobCancelledError",
        "message": "cancelled by request",
    }


# --- errors -------------------------------------------------------------------------------------


def test_stack_not_found_is_one_line_and_a_usage_error(aws, capsys):
    code, out, err = run(capsys, "jobs", "--stack-name", "nope")

    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err == (
        "geocode-dataflow: error: stack nope not found in us-east-1: pass --stack-name "
        "(or set GEOCODE_DATAFLOW_STACK) and --region\n"
    )


def test_stack_is_found_by_name_and_region(aws, capsys, monkeypatch):
    Deployed(region="eu-west-1", name="geo-eu")
    monkeypatch.setenv(stack_cli.STACK_ENV, "geo-eu")

    assert run(capsys, "jobs")[0] == cli.EXIT_USAGE  # not in the default region
    code, out, _ = run(capsys, "jobs", "--region", "eu-west-1")
    assert (code, out.strip()) == (0, "no jobs in stack geo-eu")


def test_stack_without_an_output_says_which(aws, capsys):
    Deployed(outputs=("BucketName", "StateMachineArn"))

    code, _, err = run(capsys, "status", "x")

    assert code == cli.EXIT_USAGE
    assert err.startswith(
        "geocode-dataflow: error: stack geocode-dataflow (CREATE_COMPLETE) has no output "
        "JobsTableName: is it a geocode-dataflow stack?"
    )
    assert "BucketName, DashboardUrl, StateMachineArn" in err and len(err.splitlines()) == 1


def test_stack_unknown_job_exits_3(deployed, capsys):
    code, _, err = run(capsys, "status", "nope-0123")

    assert code == cli.EXIT_REJECTED
    assert err.strip() == (
        f"geocode-dataflow: error: no job nope-0123 in stack {STACK} "
        "(`geocode-dataflow stack jobs` lists them)"
    )


def test_stack_access_denied_is_one_line(deployed, capsys, monkeypatch):
    def denied(self, job_id):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized: GetItem"}},
            "GetItem",
        )

    monkeypatch.setattr(JobStore, "get", denied)

    code, _, err = run(capsys, "status", "x")

    assert code == cli.EXIT_REJECTED
    assert err == (
        "geocode-dataflow: error: access denied to GetItem (AccessDeniedException): "
        "not authorized: GetItem\n"
    )


@pytest.mark.parametrize(
    ("code", "exit_code", "words"),
    [
        ("ExpiredToken", cli.EXIT_REJECTED, "access denied"),
        ("ThrottlingException", cli.EXIT_UNAVAILABLE, "try later"),
        ("ResourceNotFoundException", cli.EXIT_USAGE, "deleted?"),
        ("SomethingElse", cli.EXIT_REJECTED, "Query failed (SomethingElse)"),
    ],
)
def test_aws_errors_map_to_the_exit_codes(code, exit_code, words):
    with pytest.raises(cli.CliError) as raised, stack_cli.aws_errors():
        raise ClientError({"Error": {"Code": code, "Message": "m"}}, "Query")

    assert raised.value.exit_code == exit_code and words in str(raised.value)


def test_stack_without_credentials_says_how_to_get_them(deployed, capsys, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code, _, err = run(capsys, "jobs")

    assert code == cli.EXIT_USAGE
    assert err.startswith("geocode-dataflow: error: no AWS credentials (")
    assert "aws sso login" in err and len(err.splitlines()) == 1


def test_stack_without_a_region_asks_for_one(aws, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    code, _, err = run(capsys, "jobs")

    assert code == cli.EXIT_USAGE
    assert err.startswith("geocode-dataflow: error: no AWS region: pass --region")


# --- stack results ------------------------------------------------------------------------------


def test_stack_results_downloads_every_output_of_the_record(deployed, capsys, tmp_path):
    folder = "results/addresses.csv/addresses-0123/"
    outputs = {
        name: deployed.put(folder + file, body)
        for name, file, body in (
            ("succeeded", "succeeded.csv", b"Bing Spatial Data Services, 2.0\nId\n1\n"),
            ("failed", "failed.csv", b"Bing Spatial Data Services, 2.0\nId\n2\n"),
            ("job", "job.json", b'{"status": "COMPLETED"}'),
            ("results_csv", "results.csv", b"Name,latitude\nA,47.5\n"),
            ("results_geojson", "results.geojson", b'{"type": "FeatureCollection"}'),
        )
    }
    deployed.job("addresses-0123", jobs.COMPLETED, at(1), outputs=outputs)
    out = tmp_path / "out"

    code, stdout, err = run(capsys, "results", "addresses-0123", "--out", str(out))

    assert (code, err) == (0, "")
    assert sorted(p.name for p in out.iterdir()) == [
        "failed.csv",
        "job.json",
        "results.csv",
        "results.geojson",
        "succeeded.csv",
    ]
    assert (out / "results.csv").read_bytes() == b"Name,latitude\nA,47.5\n"
    assert (out / "job.json").read_bytes() == b'{"status": "COMPLETED"}'
    assert f"{out / 'results.geojson'} (29 bytes)" in stdout


def test_stack_results_refuses_a_non_empty_folder_unless_forced(deployed, capsys, tmp_path):
    uri = deployed.put("results/a/a-1/job.json", b"{}")
    deployed.job("a-1", jobs.COMPLETED, at(1), outputs={"job": uri})
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")

    code, _, err = run(capsys, "results", "a-1", "--out", str(out))

    assert code == cli.EXIT_USAGE and "is not empty" in err and "--force" in err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert run(capsys, "results", "a-1", "--out", str(out), "--force")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["job.json", "mine.txt"]


def test_stack_results_of_a_rejected_job_writes_the_report_and_exits_1(deployed, capsys, tmp_path):
    report = deployed.put("rejected/bad.csv/bad-1/rejection.json", b'{"status": "REJECTED"}')
    deployed.job(
        "bad-1",
        jobs.REJECTED,
        at(1),
        rejection_report=report,
        error={"type": "InvalidFeedError", "message": "unknown column(s) in the header: 'Bogus'"},
    )
    out = tmp_path / "out"

    code, _, err = run(capsys, "results", "bad-1", "--out", str(out))

    assert code == cli.EXIT_INVALID
    assert sorted(p.name for p in out.iterdir()) == ["job.json", "rejection.json"]
    assert json.loads((out / "job.json").read_text())["status"] == "REJECTED"
    assert err.strip() == (
        "geocode-dataflow: error: job bad-1 was rejected: unknown column(s) in the header: 'Bogus'"
    )


def test_stack_results_of_a_job_still_running_exits_5(deployed, capsys, tmp_path):
    deployed.job("busy-1", jobs.PENDING, at(1))

    code, _, err = run(capsys, "results", "busy-1", "--out", str(tmp_path / "out"))

    assert code == cli.EXIT_NOT_FINISHED and "nothing to download yet" in err
    assert not (tmp_path / "out").exists()


def test_stack_results_reports_an_output_that_is_gone(deployed, capsys, tmp_path):
    kept = deployed.put("results/a/a-2/succeeded.csv", b"x")
    outputs = {"succeeded": kept, "failed": f"s3://{BUCKET}/results/a/a-2/failed.csv"}
    deployed.job("a-2", jobs.COMPLETED, at(1), outputs=outputs)
    out = tmp_path / "out"

    code, _, err = run(capsys, "results", "a-2", "--out", str(out))

    assert code == cli.EXIT_REJECTED
    assert f"s3://{BUCKET}/results/a/a-2/failed.csv (no such object" in err
    assert sorted(p.name for p in out.iterdir()) == ["job.json", "succeeded.csv"]


# --- stack cancel -------------------------------------------------------------------------------


def test_stack_cancel_of_a_queued_job_ends_it_cancelled(deployed, capsys):
    deployed.job("waiting-1", jobs.QUEUED, at(1), queued_reason="10 jobs in flight")

    code, out, err = run(capsys, "cancel", "waiting-1", "--reason", "wrong file")

    assert (code, err) == (0, "")
    assert out.strip() == "job waiting-1: CANCELLED (cancelled while QUEUED)"
    record = deployed.store.get("waiting-1")
    assert record.status == jobs.CANCELLED and record.queued_reason is None
    assert record.error == {"type": "JobCancelledError", "message": "wrong file"}
    job_json = record.outputs["job"].removeprefix(f"s3://{BUCKET}/")
    body = deployed.s3.get_object(Bucket=BUCKET, Key=job_json)["Body"].read()
    assert json.loads(body)["status"] == jobs.CANCELLED


def test_stack_cancel_of_a_running_job_stops_its_execution(deployed, capsys):
    deployed.job("running-1", jobs.PENDING, at(1), provider_job_id="engine-exec")
    execution = deployed.sfn.start_execution(
        stateMachineArn=deployed.outputs["StateMachineArn"], name="running-1", input="{}"
    )["executionArn"]

    code, out, _ = run(capsys, "cancel", "running-1")

    assert code == 0 and "CANCELLED (cancelled while PENDING)" in out
    assert deployed.sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    assert deployed.store.get("running-1").status == jobs.CANCELLED


def test_stack_cancel_of_an_ended_job_changes_nothing_and_exits_3(deployed, capsys):
    deployed.job("done-1", jobs.COMPLETED, at(1))

    code, out, err = run(capsys, "cancel", "done-1")

    assert code == cli.EXIT_REJECTED
    assert out.strip() == "job done-1: COMPLETED (already COMPLETED; nothing to cancel)"
    assert err.strip() == (
        "geocode-dataflow: error: job done-1 was not cancelled: already COMPLETED; "
        "nothing to cancel"
    )
    assert deployed.store.get("done-1").status == jobs.COMPLETED


def test_stack_cancel_runs_with_the_functions_configuration(deployed, capsys, monkeypatch):
    deployed.job("waiting-2", jobs.QUEUED, at(1))
    seen = {}

    def fake_cancel(job_id, services, *, reason, dispatch):
        seen.update(job_id=job_id, config=services.config, reason=reason, dispatch=dispatch)
        return type("Outcome", (), {"job_id": job_id, "status": jobs.CANCELLED, "detail": "ok"})

    monkeypatch.setattr("geocode_dataflow.pipeline.cancel.cancel_job", fake_cancel)

    assert run(capsys, "cancel", "waiting-2")[0] == 0
    config = seen["config"]
    assert (config.provider, config.uses_engine) == ("AmazonLocation", True)
    assert config.jobs_table_name == deployed.outputs["JobsTableName"]
    assert config.bucket_name == BUCKET
    assert config.state_machine_arn == deployed.outputs["StateMachineArn"]
    assert seen["reason"] == "cancelled by request"
    assert seen["dispatch"] is False  # the stack's dispatcher starts the next job, not us


def test_stack_cancel_of_an_unknown_job_exits_3(deployed, capsys):
    code, _, err = run(capsys, "cancel", "ghost-1")

    assert code == cli.EXIT_REJECTED and "no job ghost-1 in stack" in err


def test_stack_cancel_refuses_a_function_configured_for_another_table(aws, capsys):
    deployed = Deployed(environment={"JOBS_TABLE_NAME": "someone-elses-jobs"})
    deployed.job("waiting-3", jobs.QUEUED, at(1))

    code, _, err = run(capsys, "cancel", "waiting-3")

    assert code == cli.EXIT_USAGE
    assert f"stack {STACK}: DispatchQueuedFunction uses someone-elses-jobs, {BUCKET}, " in err
    assert deployed.store.get("waiting-3").status == jobs.QUEUED
