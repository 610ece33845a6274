"""ProcessLambdas: one worker process per concurrent invocation, as Lambda's environments."""

import base64
import io
import json
import os
import threading
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from local_pipeline.lambdas import LambdasClosedError, ProcessLambdas
from local_pipeline.template import FunctionSpec
from moto import mock_aws

pytestmark = pytest.mark.timeout(60)

HANDLER = """
import os
import time

INVOCATIONS = 0
print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])


class QuotaExceededError(Exception):
    pass


def lambda_handler(event, context, runtime=None):
    global INVOCATIONS
    INVOCATIONS += 1
    print("handling", event.get("n"))
    time.sleep(event.get("sleep", 0))
    if "exit" in event:
        os._exit(event["exit"])
    if "raise" in event:
        raise QuotaExceededError(event["raise"])
    return {
        "pid": os.getpid(),
        "invocations": INVOCATIONS,
        "runtime": runtime,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "variables": {name: os.environ.get(name) for name in event.get("variables", [])},
    }
"""


def function_spec(tmp_path: Path, name: str, *, timeout: int = 5, code: str = HANDLER):
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(code, encoding="utf-8")
    return FunctionSpec(
        logical_id=name,
        code_dir=code_dir,
        handler="app.lambda_handler",
        environment={},
        timeout=timeout,
    )


@pytest.fixture
def lambdas():
    with ProcessLambdas() as registry:
        yield registry
    for pid in registry.environment_pids():
        pytest.fail(f"environment {pid} survived close()")


def invoke_concurrently(lambdas, name, events):
    results = [None] * len(events)

    def run(index):
        results[index] = lambdas.invoke(name, events[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_process_lambdas_start_nothing_before_the_first_invocation(tmp_path, lambdas):
    lambdas.register("LazyFunction", function_spec(tmp_path, "LazyFunction"), {})

    assert lambdas.environment_count() == 0
    assert lambdas.live_environments() == 0


def test_process_lambdas_return_the_result_and_the_logs(tmp_path, lambdas):
    lambdas.register("ResultFunction", function_spec(tmp_path, "ResultFunction", timeout=7), {})
    heard = []
    lambdas.output_listeners.append(heard.append)

    payload, is_error, output = lambdas.invoke("ResultFunction", {"n": 1})

    result = json.loads(payload)
    assert not is_error
    assert result["runtime"] is None  # the function builds its own runtime, as on Lambda
    assert result["pid"] != os.getpid()
    assert 5000 < result["remaining_ms"] <= 7000
    # The init's output comes with the first invocation, as in the function's log stream.
    assert output == "init of ResultFunction\nhandling 1\n"
    assert heard == [output]
    (invocation,) = lambdas.invocations
    assert (invocation.function, invocation.event, invocation.result) == (
        "ResultFunction",
        {"n": 1},
        result,
    )
    assert invocation.error_type is None
    assert invocation.cold_start
    assert invocation.environment_pid == result["pid"]

    _, _, output = lambdas.invoke("ResultFunction", json.dumps({"n": 2}))  # moto passes JSON
    assert output == "handling 2\n"


def test_process_lambdas_report_an_exception_as_lambda_does(tmp_path, lambdas):
    lambdas.register("FailingFunction", function_spec(tmp_path, "FailingFunction"), {})

    payload, is_error, output = lambdas.invoke("FailingFunction", {"raise": "no quota left"})

    error = json.loads(payload)
    assert is_error
    assert error["errorType"] == "QuotaExceededError"  # what Retry and Catch match on
    assert error["errorMessage"] == "no quota left"
    assert "QuotaExceededError: no quota left" in error["stackTrace"][-1]
    assert '"errorType": "QuotaExceededError"' in output
    assert lambdas.invocations[-1].error_type == "QuotaExceededError"
    # An exception does not end the environment.
    assert not json.loads(lambdas.invoke("FailingFunction", {})[0]).get("errorType")
    assert lambdas.environment_count("FailingFunction") == 1


def test_process_lambdas_keep_each_function_environment_to_itself(tmp_path, lambdas):
    lambdas.register("FirstFunction", function_spec(tmp_path, "FirstFunction"), {"ONLY_FIRST": "1"})
    lambdas.register(
        "SecondFunction", function_spec(tmp_path, "SecondFunction"), {"ONLY_SECOND": "2"}
    )
    os.environ["FROM_PARENT"] = "inherited"
    try:
        asked = {"variables": ["ONLY_FIRST", "ONLY_SECOND", "FROM_PARENT"]}
        first = json.loads(lambdas.invoke("FirstFunction", asked)[0])["variables"]
        second = json.loads(lambdas.invoke("SecondFunction", asked)[0])["variables"]
    finally:
        del os.environ["FROM_PARENT"]

    assert first == {"ONLY_FIRST": "1", "ONLY_SECOND": None, "FROM_PARENT": "inherited"}
    assert second == {"ONLY_FIRST": None, "ONLY_SECOND": "2", "FROM_PARENT": "inherited"}
    assert "ONLY_FIRST" not in os.environ and "ONLY_SECOND" not in os.environ


def test_process_lambdas_run_concurrent_invocations_in_their_own_environments(tmp_path, lambdas):
    lambdas.register("SlowFunction", function_spec(tmp_path, "SlowFunction"), {})

    started = time.monotonic()
    replies = invoke_concurrently(lambdas, "SlowFunction", [{"sleep": 1}] * 4)
    elapsed = time.monotonic() - started

    results = [json.loads(payload) for payload, is_error, _ in replies]
    assert elapsed < 3.0, f"4 invocations of 1 s took {elapsed:.1f} s: not concurrent"
    assert lambdas.max_concurrent("SlowFunction") == 4
    assert lambdas.environment_count("SlowFunction") == 4
    assert len({r["pid"] for r in results}) == 4
    # Warm start: an idle environment is reused, its module state kept.
    warm = json.loads(lambdas.invoke("SlowFunction", {})[0])
    assert warm["pid"] in {r["pid"] for r in results}
    assert warm["invocations"] == 2
    assert lambdas.environment_count("SlowFunction") == 4
    assert not lambdas.invocations[-1].cold_start


def test_process_lambdas_queue_invocations_beyond_the_environment_cap(tmp_path):
    with ProcessLambdas(max_environments=2) as lambdas:
        lambdas.register("CappedFunction", function_spec(tmp_path, "CappedFunction"), {})

        started = time.monotonic()
        replies = invoke_concurrently(lambdas, "CappedFunction", [{"sleep": 0.5}] * 4)
        elapsed = time.monotonic() - started

        assert not any(is_error for _, is_error, _ in replies)
        assert lambdas.environment_count("CappedFunction") == 2
        assert lambdas.max_concurrent("CappedFunction") == 2
        assert elapsed >= 1.0


def test_process_lambdas_report_an_exited_environment_and_replace_it(tmp_path, lambdas):
    lambdas.register("ExitingFunction", function_spec(tmp_path, "ExitingFunction"), {})
    first_pid = json.loads(lambdas.invoke("ExitingFunction", {})[0])["pid"]

    payload, is_error, output = lambdas.invoke("ExitingFunction", {"exit": 3, "n": 7})

    error = json.loads(payload)
    assert is_error
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert "handling 7\n" in output  # what it logged before dying is kept
    assert lambdas.invocations[-1].error_type == "Runtime.ExitError"
    assert not pid_alive(first_pid)
    after = json.loads(lambdas.invoke("ExitingFunction", {})[0])
    assert after["pid"] != first_pid and after["invocations"] == 1
    assert lambdas.environment_count("ExitingFunction") == 2


def test_process_lambdas_time_out_an_invocation_past_the_function_timeout(tmp_path, lambdas):
    lambdas.register("SleepyFunction", function_spec(tmp_path, "SleepyFunction", timeout=1), {})
    lambdas.invoke("SleepyFunction", {})  # the cold start does not count in the timeout

    started = time.monotonic()
    payload, is_error, output = lambdas.invoke("SleepyFunction", {"sleep": 30})
    elapsed = time.monotonic() - started

    error = json.loads(payload)
    assert is_error
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert '"errorType": "Sandbox.Timedout"' in output
    assert elapsed < 2.5
    assert not lambdas.invoke("SleepyFunction", {})[1]
    assert lambdas.environment_count("SleepyFunction") == 2


def test_process_lambdas_kill_during_kills_the_next_invocations(tmp_path, lambdas):
    lambdas.register("KilledFunction", function_spec(tmp_path, "KilledFunction"), {})
    lambdas.kill_during("KilledFunction", 0.3)

    started = time.monotonic()
    payload, is_error, _ = lambdas.invoke("KilledFunction", {"sleep": 5})
    elapsed = time.monotonic() - started

    error = json.loads(payload)
    assert is_error
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert elapsed < 2.0
    assert not lambdas.invoke("KilledFunction", {"sleep": 0.5})[1]  # the one kill is used up


def test_process_lambdas_report_a_failed_init_and_retry_it(tmp_path, lambdas):
    spec = function_spec(tmp_path, "BrokenFunction", code="import not_installed_anywhere\n")
    lambdas.register("BrokenFunction", spec, {})

    payload, is_error, output = lambdas.invoke("BrokenFunction", {})

    assert is_error
    assert json.loads(payload)["errorType"] == "Runtime.ImportModuleError"
    assert "not_installed_anywhere" in output
    (spec.code_dir / "app.py").write_text(HANDLER, encoding="utf-8")
    assert not lambdas.invoke("BrokenFunction", {})[1]


def test_process_lambdas_close_stops_every_environment(tmp_path):
    lambdas = ProcessLambdas()
    lambdas.register("ClosedFunction", function_spec(tmp_path, "ClosedFunction"), {})
    busy: list = []
    thread = threading.Thread(
        target=lambda: busy.append(lambdas.invoke("ClosedFunction", {"sleep": 30}))
    )
    thread.start()
    while lambdas.max_concurrent("ClosedFunction") < 1:
        time.sleep(0.05)
    lambdas.invoke("ClosedFunction", {})  # a second environment, idle after this
    pids = lambdas.environment_pids()
    assert len(pids) == 2

    lambdas.close()
    thread.join(5)

    assert json.loads(busy[0][0])["errorType"] == "Runtime.ExitError"
    assert not any(pid_alive(pid) for pid in pids)
    with pytest.raises(LambdasClosedError):
        lambdas.invoke("ClosedFunction", {})


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# never run: the handler runs in a local environment\n")
    return buffer.getvalue()


def test_process_lambdas_patched_routes_moto_invocations_to_the_environments(tmp_path):
    with mock_aws(), ProcessLambdas() as lambdas:
        lambdas.register("RoutedFunction", function_spec(tmp_path, "RoutedFunction"), {})
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="routed-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(
            FunctionName="RoutedFunction",
            Runtime="python3.12",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": _placeholder_zip()},
        )

        with lambdas.patched():
            ok = client.invoke(FunctionName="RoutedFunction", Payload=b'{"n": 5}', LogType="Tail")
            failed = client.invoke(FunctionName="RoutedFunction", Payload=b'{"raise": "x"}')

    assert json.loads(ok["Payload"].read())["pid"] == lambdas.invocations[0].environment_pid
    assert "handling 5" in base64.b64decode(ok["LogResult"]).decode()
    assert failed["FunctionError"] == "Handled"
    assert json.loads(failed["Payload"].read())["errorType"] == "QuotaExceededError"


def test_process_lambdas_recycle_starts_fresh_environments(tmp_path, lambdas):
    lambdas.register("RecycledFunction", function_spec(tmp_path, "RecycledFunction"), {})
    busy: list = []
    thread = threading.Thread(
        target=lambda: busy.append(lambdas.invoke("RecycledFunction", {"sleep": 0.5}))
    )
    thread.start()
    while lambdas.max_concurrent("RecycledFunction") < 1:
        time.sleep(0.05)
    idle_pid = json.loads(lambdas.invoke("RecycledFunction", {})[0])["pid"]

    lambdas.recycle()
    thread.join(5)

    assert not busy[0][1]  # a busy environment finishes its invocation
    assert lambdas.live_environments("RecycledFunction") == 0
    assert not pid_alive(idle_pid)
    assert json.loads(lambdas.invoke("RecycledFunction", {})[0])["invocations"] == 1
