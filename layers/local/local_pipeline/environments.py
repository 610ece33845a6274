"""What runs inside one local Lambda execution environment: a worker process of one function.

``local_pipeline.lambdas.ProcessLambdas`` starts these (one per concurrent invocation, as Lambda
does) and talks to them over a connection. A worker imports its handler once (the init phase),
then serves invocations one at a time, so a warm environment keeps the module and whatever it
cached. Only the standard library is imported before the handler: a cold start costs the
handler's own imports and nothing else. The worker's stdout and stderr are a file the parent
reads after each invocation (that is the invocation's log output).

Protocol (JSON over ``multiprocessing.connection``):
  parent -> worker  {"function_name", "code_dir", "handler", "timeout", "memory_mb"}   (init)
  worker -> parent  {"ready": true} | {"init_error": <error payload>}
  parent -> worker  {"request_id", "event": <event JSON>, "deadline": <epoch seconds>}
  worker -> parent  {"payload": <result or error payload JSON>, "error_type": str | null}
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account, as in the ARNs moto hands out
PARENT_CHECK_SECONDS = 1.0

# Run by ``python -c`` in a fresh interpreter: the parent's import path, then serve().
BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from local_pipeline.environments import main; main(int(sys.argv[2]), int(sys.argv[3]))"
)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline: float = 0.0  # epoch seconds; 0 means timeout_seconds from now
    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.invoked_function_arn = (
            self.invoked_function_arn
            or f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.deadline = self.deadline or time.time() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def load_handler(
    code_dir: Path, handler: str, logical_id: str, *, on_path: bool = False
) -> Callable[..., Any]:
    """Import ``code_dir/<module>.py`` and return its handler attribute.

    The module gets a unique name per function (every function has its own ``app.py``; a plain
    ``import app`` would hand back the first one). ``on_path`` puts ``code_dir`` first on
    ``sys.path`` as Lambda does with /var/task: only safe in a process of its own.
    """
    module_file, _, attribute = handler.rpartition(".")
    path = code_dir / f"{module_file}.py"
    if on_path:
        sys.path.insert(0, str(code_dir))
    loader_spec = importlib.util.spec_from_file_location(f"lambda_fn_{logical_id}", path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(loader_spec)
    sys.modules[loader_spec.name] = module  # dataclasses and pickling look modules up by name
    loader_spec.loader.exec_module(module)
    return getattr(module, attribute)


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """An exception as Lambda reports it: Step Functions routes Retry/Catch on errorType."""
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-3:],
    }


def error_log_line(payload: dict[str, Any], message: str = "Unhandled exception") -> str:
    return json.dumps(
        {
            "level": "ERROR",
            "message": message,
            "errorType": payload["errorType"],
            "errorMessage": payload["errorMessage"],
        }
    )


def invoke_handler(
    handler: Callable[..., Any], event: Any, context: LambdaContext, **kwargs: Any
) -> tuple[str, str | None]:
    """(payload JSON, error type or None). Exceptions are reported; BaseExceptions (SystemExit,
    KeyboardInterrupt) are not caught, as the Lambda runtime does not: the environment exits."""
    try:
        result = handler(event, context, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
        payload = error_payload(exc)
        print(error_log_line(payload), flush=True)
        return json.dumps(payload), payload["errorType"]
    return json.dumps(result, default=str), None


def _init_error_type(exc: Exception) -> str:
    # The names the Lambda Python runtime gives to a failed init.
    if isinstance(exc, SyntaxError):
        return "Runtime.UserCodeSyntaxError"
    if isinstance(exc, ImportError):
        return "Runtime.ImportModuleError"
    if isinstance(exc, AttributeError):
        return "Runtime.HandlerNotFound"
    return type(exc).__name__


def _send(connection: Connection, message: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    connection.send_bytes(json.dumps(message).encode("utf-8"))


def serve(connection: Connection) -> None:
    """Init, then one invocation at a time until the parent closes the connection."""
    init = json.loads(connection.recv_bytes())
    try:
        handler = load_handler(
            Path(init["code_dir"]), init["handler"], init["function_name"], on_path=True
        )
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which discards us
        payload = error_payload(exc, _init_error_type(exc))
        print(error_log_line(payload, "Init failed"), flush=True)
        _send(connection, {"init_error": payload})
        return
    _send(connection, {"ready": True})
    while True:
        try:
            request = json.loads(connection.recv_bytes())
        except EOFError:
            return
        context = LambdaContext(
            function_name=init["function_name"],
            timeout_seconds=init["timeout"],
            memory_limit_in_mb=init["memory_mb"],
            aws_request_id=request["request_id"],
            deadline=request["deadline"],
        )
        # No runtime argument: the function builds its own from its environment, as on Lambda.
        payload, error_type = invoke_handler(handler, json.loads(request["event"]), context)
        _send(connection, {"payload": payload, "error_type": error_type})


def _exit_with_parent(parent_pid: int) -> None:
    """An environment busy in a handler does not notice its connection closing: leave when the
    parent has gone (its pid is no longer our parent's), so no worker outlives the local run."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(fd: int, parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and stops its environments.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    # stdout is a file: line buffering keeps every finished log line even if we are killed.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    serve(Connection(fd))
