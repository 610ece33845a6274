"""The whole pipeline on this machine, built from template.yaml.

``LocalPipeline`` starts moto as a real HTTP server in-process (ThreadedMotoServer, so boto3
talks HTTP to it exactly as to AWS), routes Lambda invocations to the real handlers, creates
the bucket, table, secret, functions, S3 notification and state machines that template.yaml
declares, and starts the provider's emulator (the Dataflow emulator for ``bing-dataflow``, the
Amazon Location emulator for ``amazon-location``) unless an endpoint is given.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import requests
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.observability import logger as pipeline_logger

from local_pipeline import template as tpl
from local_pipeline.lambdas import ProcessLambdas

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ROLE_NAME = "local-pipeline-lambda-role"
STACK_NAME = "local"
SCHEDULE_SECONDS = 2.0  # the dispatcher's EventBridge schedule (moto has none), sped up
_SUB = re.compile(r"\$\{([\w:.]+)\}")
# The CLI's provider names -> the template's Provider parameter.
PROVIDERS = {
    "bing-dataflow": "BingDataflow",
    "amazon-location": "AmazonLocation",
    "azure-maps": "AzureMaps",
}


@dataclass
class LocalPipelineOptions:
    """What the local run can change; everything else comes from template.yaml."""

    provider: str = "bing-dataflow"  # or "amazon-location" (see PROVIDERS)
    requests_per_second: float | None = None  # ProviderRequestsPerSecond (synchronous providers)
    location_options: dict[str, Any] = field(default_factory=dict)  # Amazon Location emulator
    azure_options: dict[str, Any] = field(default_factory=dict)  # Azure Maps emulator
    key: str | None = None  # BING_MAPS_KEY when set, otherwise generated
    master_key: str | None = None  # the data sources' master key (backups); None = the key
    endpoint: str | None = None  # an external Dataflow endpoint instead of the embedded emulator
    emulator_processing_seconds: float = 2.0
    emulator_options: dict[str, Any] = field(default_factory=dict)  # extra EmulatorConfig fields
    initial_wait_seconds: float = 1.0
    min_wait_seconds: float = 1.0
    max_wait_seconds: float = 5.0
    max_status_checks: int | None = None
    max_entities: int | None = None
    max_file_mb: float | None = None
    parameter_overrides: dict[str, Any] = field(default_factory=dict)


class _CurrentStdout:
    """A stream that always writes to whatever sys.stdout is now (Powertools' Logger keeps the
    stream it was created with; the in-process Lambdas capture stdout per invocation)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@contextmanager
def _atomic_dynamodb() -> Iterator[None]:
    """DynamoDB applies a conditional write atomically; moto's server checks the condition and
    writes in two steps on the request's own thread, so two concurrent writers can both pass it
    (a queued job claimed by two dispatchers, two slots for one place). One DynamoDB request at
    a time gives back the guarantee the pipeline relies on."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    with mock.patch.object(DynamoHandler, "call_action", call_action):
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalPipeline:
    def __init__(self, options: LocalPipelineOptions | None = None) -> None:
        self.options = options or LocalPipelineOptions()
        if self.options.provider not in PROVIDERS:
            raise ValueError(
                f"unknown provider {self.options.provider!r}; use one of {', '.join(PROVIDERS)}"
            )
        self.provider = self.options.provider
        # The provider's key (Bing and Azure; Amazon Location uses IAM): the environment's
        # when set, otherwise a generated one that the emulator accepts.
        key_env = "AZURE_MAPS_KEY" if self.provider == "azure-maps" else "BING_MAPS_KEY"
        self.key = self.options.key or os.environ.get(key_env) or secrets.token_hex(16)
        self.master_key = self.options.master_key or self.key
        self.template = tpl.load_template()
        # One worker process per concurrent invocation, as Lambda's execution environments.
        self.lambdas = ProcessLambdas()
        self.emulator: Any = None
        self._stack = ExitStack()
        self._saved_env: dict[str, str | None] = {}
        self.resources: dict[str, str] = {}
        self._last_schedule = 0.0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalPipeline:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            self._restore_env()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        self._restore_env()

    def _set_env(self, **values: str) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _start(self) -> None:
        from moto.server import ThreadedMotoServer

        port = _free_port()
        self.aws_endpoint = f"http://127.0.0.1:{port}"
        self._set_env(
            AWS_ENDPOINT_URL=self.aws_endpoint,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto's dummy credentials
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            MOTO_PORT=str(port),
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_SERVICE_NAME="geocode-dataflow",
            POWERTOOLS_METRICS_NAMESPACE="GeocodeDataflow",
        )
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call
        self._stack.enter_context(_atomic_dynamodb())
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._stack.callback(server.stop)
        # moto's backends are per process: start from an empty AWS, leave an empty one.
        requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self._stack.callback(self._reset_quietly)
        _forget_parameter_providers()
        self._stack.callback(_forget_parameter_providers)
        requests.post(
            f"{self.aws_endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()
        # moto's configuration is per process: leave it as found (a later mock_aws in the same
        # process would otherwise look for its state machines in the interpreter's backend).
        self._stack.callback(self._execute_state_machines, False)
        self._stack.enter_context(self.lambdas.patched())
        self._stack.callback(self.lambdas.close)  # before the moto server stops
        # Not setStream(): it flushes the old stream, which a test runner may have closed. The
        # replacement writes to the current sys.stdout, which is what the default did at import.
        pipeline_logger.registered_handler.stream = _CurrentStdout()  # type: ignore[attr-defined]

        if self.options.endpoint:
            self.endpoint = self.options.endpoint
        elif self.provider in ("amazon-location", "azure-maps"):
            self.endpoint = self._start_engine_emulator()
        else:
            self.endpoint = self._start_emulator()
        self._create_resources()
        # The emulators' place data is hundreds of thousands of long-lived objects: out of the
        # collector's sight, a full collection no longer stalls this process (moto and the
        # emulator answer from it) for a fraction of a second, which would bunch requests.
        gc.collect()
        gc.freeze()

    def _execute_state_machines(self, on: bool) -> None:
        try:
            requests.post(
                f"{self.aws_endpoint}/moto-api/config",
                json={"stepfunctions": {"execute_state_machine": on}},
                timeout=10,
            )
        except requests.RequestException:
            pipeline_logger.warning("Could not reset moto's configuration", exc_info=True)

    def _reset_quietly(self) -> None:
        try:
            requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=10)
        except requests.RequestException:
            pass  # the server is going away anyway

    def _start_emulator(self) -> str:
        from dataflow_emulator import EmulatorConfig, EmulatorServer

        config = EmulatorConfig(
            keys={self.key, self.master_key},
            processing_seconds=self.options.emulator_processing_seconds,
            **self.options.emulator_options,
        )
        self.emulator = self._stack.enter_context(EmulatorServer(config))
        return str(self.emulator.base_url)

    def _start_engine_emulator(self) -> str:
        """Amazon Location or Azure Maps, each emulator in its own process (see
        ``emulator_process``: a provider's clock must not stop when moto's process is busy)."""
        from local_pipeline.emulator_process import EmulatorProcess

        if self.provider == "azure-maps":
            settings = {"keys": {self.key}, **self.options.azure_options}
        else:
            settings = dict(self.options.location_options)
        self.emulator = self._stack.enter_context(EmulatorProcess(self.provider, settings))
        return str(self.emulator.url)

    # ------------------------------------------------------------------ resources
    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name=REGION)

    def _parameters(self) -> dict[str, Any]:
        values = tpl.parameter_defaults(self.template)
        values.update(self.options.parameter_overrides)
        values.update(
            {
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Region": REGION,
                "AWS::StackName": STACK_NAME,
                "AWS::Partition": "aws",
            }
        )
        return values

    def _resolve(self, value: Any) -> Any:
        """The few intrinsics the function environments use: Ref, Sub and If."""
        if isinstance(value, dict) and "Fn::If" in value:
            name, when_true, when_false = value["Fn::If"]
            return self._resolve(when_true if self._condition(name) else when_false)
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            if name in self.resources:
                return self.resources[name]
            return self._parameters()[name]
        if isinstance(value, dict) and "Fn::Sub" in value:
            known = {**self._parameters(), **self.resources}
            return _SUB.sub(lambda m: str(known[m.group(1)]), value["Fn::Sub"])
        return value

    def _condition(self, name: str) -> bool:
        """One of the template's Conditions (Equals / Not / And / Or over parameters)."""

        def evaluate(node: Any) -> Any:
            if isinstance(node, dict) and "Fn::Equals" in node:
                left, right = (evaluate(v) for v in node["Fn::Equals"])
                return str(left) == str(right)
            if isinstance(node, dict) and "Fn::Not" in node:
                return not evaluate(node["Fn::Not"][0])
            if isinstance(node, dict) and "Fn::And" in node:
                return all(evaluate(v) for v in node["Fn::And"])
            if isinstance(node, dict) and "Fn::Or" in node:
                return any(evaluate(v) for v in node["Fn::Or"])
            if isinstance(node, dict) and "Condition" in node:
                return self._condition(node["Condition"])
            return self._resolve(node)

        return bool(evaluate(self.template["Conditions"][name]))

    def _create_resources(self) -> None:
        template = self.template
        self.bucket = self._resolve(
            {"Fn::Sub": "${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"}
        )
        s3 = self.client("s3")
        s3.create_bucket(Bucket=self.bucket)
        versioning = template["Resources"]["DataBucket"]["Properties"].get(
            "VersioningConfiguration"
        )
        if versioning:
            s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration=versioning)

        dynamodb = self.client("dynamodb")
        self.table_name = "local-jobs"
        dynamodb.create_table(TableName=self.table_name, **tpl.table_schema(template))
        self.resources["JobsTable"] = self.table_name

        overrides: dict[str, Any] = {"Provider": PROVIDERS[self.provider]}
        if self.provider == "bing-dataflow":
            secret = self.client("secretsmanager").create_secret(
                Name="local/bing-maps-key", SecretString=self.key
            )
            self.secret_arn = secret["ARN"]
            overrides.update(BingMapsKeySecretArn=self.secret_arn, DataflowEndpoint=self.endpoint)
            # Data source backups read the master key from a secret of its own.
            master = self.client("secretsmanager").create_secret(
                Name="local/datasource-master-key", SecretString=self.master_key
            )
            overrides["DataSourceMasterKeySecretArn"] = master["ARN"]
        elif self.provider == "azure-maps":
            secret = self.client("secretsmanager").create_secret(
                Name="local/azure-maps-key", SecretString=self.key
            )
            self.secret_arn = secret["ARN"]
            overrides.update(AzureMapsKeySecretArn=self.secret_arn, AzureMapsEndpoint=self.endpoint)
        else:
            overrides["AmazonLocationEndpoint"] = self.endpoint
        if self.provider != "bing-dataflow" and self.options.requests_per_second is not None:
            overrides["ProviderRequestsPerSecond"] = self.options.requests_per_second
        self.options.parameter_overrides = {**overrides, **self.options.parameter_overrides}

        iam = self.client("iam")
        role = iam.create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]

        if self._condition("HasNotificationEmail"):
            # The end-of-job emails: moto keeps what is published (nothing is mailed).
            topic = self.client("sns").create_topic(Name=f"{STACK_NAME}-notifications")
            self.resources["NotificationTopic"] = topic["TopicArn"]

        specs = tpl.functions(template)
        lambda_client = self.client("lambda")
        function_arns = {}
        for logical_id, spec in specs.items():
            arn = lambda_client.create_function(
                FunctionName=logical_id,
                Runtime="python3.12",
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": _placeholder_zip()},
                Timeout=spec.timeout,
            )["FunctionArn"]
            function_arns[logical_id] = arn
            self.resources[logical_id] = logical_id

        sfn = self.client("stepfunctions")
        substitutions = {f"{name}Arn": arn for name, arn in function_arns.items()}
        definition = tpl.state_machine_definition(template, substitutions)
        self.state_machine_arn = sfn.create_state_machine(
            name=f"{STACK_NAME}-jobs", definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
        self.resources["JobStateMachine"] = self.state_machine_arn
        # The job engine of synchronous providers (a Distributed Map over the chunks).
        engine = tpl.state_machine_definition(template, substitutions, "EngineStateMachine")
        self.engine_state_machine_arn = sfn.create_state_machine(
            name=f"{STACK_NAME}-engine", definition=engine, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
        self.resources["EngineStateMachine"] = self.engine_state_machine_arn
        # Data source backups (a Data Source Download job per backup).
        backups = tpl.state_machine_definition(
            template, substitutions, "DataSourceBackupStateMachine"
        )
        self.backup_state_machine_arn = sfn.create_state_machine(
            name=f"{STACK_NAME}-datasource-backups",
            definition=backups,
            roleArn=role,
            type="STANDARD",
        )["stateMachineArn"]
        self.resources["DataSourceBackupStateMachine"] = self.backup_state_machine_arn

        for logical_id, spec in specs.items():
            env = {name: str(self._resolve(value)) for name, value in spec.environment.items()}
            env.update(self._local_env_overrides())
            PipelineConfig.from_env(env)  # a missing variable fails here, not in a worker
            self.lambdas.register(logical_id, spec, env)

        s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {
                        "LambdaFunctionArn": function_arns["SubmitJobFunction"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "prefix", "Value": prefix},
                                    {"Name": "suffix", "Value": suffix},
                                ]
                            }
                        },
                    }
                    for prefix, suffix in tpl.s3_event_filters(template, "SubmitJobFunction")
                ]
            },
        )
        self.input_prefix = self.pipeline_config().input_prefix

    def pipeline_config(self, function: str = "SubmitJobFunction") -> PipelineConfig:
        """The configuration a function of this stack runs with (its environment, resolved)."""
        spec = tpl.functions(self.template)[function]
        env = {n: str(self._resolve(v)) for n, v in spec.environment.items()}
        return PipelineConfig.from_env({**env, **self._local_env_overrides()})

    def _local_env_overrides(self) -> dict[str, str]:
        o = self.options
        env = {
            "INITIAL_WAIT_SECONDS": str(o.initial_wait_seconds),
            "MIN_WAIT_SECONDS": str(o.min_wait_seconds),
            "MAX_WAIT_SECONDS": str(o.max_wait_seconds),
        }
        if o.max_status_checks is not None:
            env["MAX_STATUS_CHECKS"] = str(o.max_status_checks)
        if o.max_entities is not None:
            env["MAX_ENTITIES"] = str(o.max_entities)
        if o.max_file_mb is not None:
            env["MAX_FILE_MB"] = str(o.max_file_mb)
        return env

    # ------------------------------------------------------------------ using it
    def drop(self, data: bytes | Path, name: str | None = None) -> str:
        """Put a file under the input prefix (the S3 event runs the submit function) and
        return the job id the pipeline gives it."""
        if isinstance(data, Path):
            name = name or data.name
            data = data.read_bytes()
        if not name:
            raise ValueError("a name is needed for in-memory data")
        key = f"{self.input_prefix}{name}"
        response = self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data)
        version = response.get("VersionId") or response["ETag"].strip('"')
        return jobs.make_job_id(self.bucket, key, version)

    def record(self, job_id: str) -> JobRecord | None:
        item = self.client("dynamodb").get_item(
            TableName=self.table_name, Key={"job_id": {"S": job_id}}
        )
        if "Item" not in item:
            return None
        table = boto3.resource(
            "dynamodb", endpoint_url=self.aws_endpoint, region_name=REGION
        ).Table(self.table_name)
        return jobs.JobStore(table).get(job_id)

    def execution(self, job_id: str) -> dict[str, Any] | None:
        """The job's execution: a geocode job's, or a data source backup's."""
        sfn = self.client("stepfunctions")
        for machine in (self.state_machine_arn, self.backup_state_machine_arn):
            arn = machine.replace(":stateMachine:", ":execution:") + f":{job_id}"
            try:
                return sfn.describe_execution(executionArn=arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                continue
        return None

    def history(self, job_id: str) -> list[dict[str, Any]]:
        execution = self.execution(job_id)
        arn = (
            execution["executionArn"]
            if execution
            else self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
        )
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return events

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 120.0,
        on_progress: Callable[[JobRecord | None], None] | None = None,
    ) -> JobRecord:
        """Block until the job record is final and its execution (if any) has ended."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_schedules()
            record = self.record(job_id)
            if on_progress:
                on_progress(record)
            if record and record.status in jobs.FINAL_STATUSES:
                execution = self.execution(job_id)
                if execution is None or execution["status"] != "RUNNING":
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"job {job_id} not finished after {timeout:.0f}s (record: {record and record.status})"
                )
            time.sleep(0.2)

    def run_schedules(self, *, force: bool = False) -> None:
        """What EventBridge's schedule does in AWS: run the dispatcher now and then."""
        now = time.monotonic()
        if force or now - self._last_schedule >= SCHEDULE_SECONDS:
            self._last_schedule = now
            self.lambdas.invoke(
                "DispatchQueuedFunction", {"detail-type": "Scheduled Event", "source": "aws.events"}
            )

    def fire_schedule(self, function_id: str) -> Any:
        """What one of the template's EventBridge ``Schedule`` events does in AWS (moto runs
        none): invoke its function as a scheduled event, when the function's Condition lets
        the template create it. Returns the invocation (payload, failed, log), or None."""
        resource = self.template["Resources"][function_id]
        condition = resource.get("Condition")
        if condition and not self._condition(condition):
            return None
        events = resource["Properties"].get("Events", {}).values()
        if not any(event["Type"] == "Schedule" for event in events):
            raise ValueError(f"{function_id} has no Schedule event")
        event = {
            "id": secrets.token_hex(16),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "detail": {},
        }
        return self.lambdas.invoke(function_id, event)

    def objects(self, prefix: str = "") -> Iterator[str]:
        s3 = self.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def read(self, uri_or_key: str) -> bytes:
        key = uri_or_key.split(f"s3://{self.bucket}/", 1)[-1]
        return self.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def export(self, record: JobRecord, out_dir: Path) -> list[Path]:
        """Copy the job's outputs (or its rejection report) into a local folder."""
        out_dir.mkdir(parents=True, exist_ok=True)
        uris = list(record.outputs.values())
        if record.rejection_report:
            uris.append(record.rejection_report)
        written = []
        for uri in uris:
            target = out_dir / uri.rsplit("/", 1)[-1]
            target.write_bytes(self.read(uri))
            written.append(target)
        if not record.outputs.get("job"):
            target = out_dir / "job.json"
            target.write_text(
                json.dumps(record.to_document(), indent=2, sort_keys=True, default=str)
            )
            written.append(target)
        return written


def _forget_parameter_providers() -> None:
    """Powertools keeps one provider per process, holding a boto3 client bound to the endpoint
    of the moment: a second local pipeline in the same process needs fresh ones."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    DEFAULT_PROVIDERS.clear()
    parameters.clear_caches()


def _placeholder_zip() -> bytes:
    """moto wants a deployment package; the code really run is the repo's functions/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# the local run invokes functions/<name>/app.py in-process\n")
    return buffer.getvalue()


@contextmanager
def local_pipeline(options: LocalPipelineOptions | None = None) -> Iterator[LocalPipeline]:
    with LocalPipeline(options) as pipeline:
        yield pipeline
