"""Running the real Lambda handlers in-process behind moto's Lambda service.

moto runs function code in Docker, which this project does not need: the seam
``LambdaFunction._invoke_lambda`` is replaced (for the local run and the tests only) so that
every invocation path (direct Invoke, Step Functions Task states, S3 notifications) imports
the function's ``app.py`` and calls its handler with a Lambda-like context. Errors come back as
Lambda reports them (``errorType`` = exception class name), so the state machine's Retry and
Catch route on the same names as in AWS.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction

from local_pipeline.template import FunctionSpec


@dataclass
class LambdaContext:
    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


@dataclass
class Invocation:
    function: str
    event: Any
    result: Any
    error_type: str | None
    output: str


def load_handler(spec: FunctionSpec) -> Callable[..., Any]:
    module_file, _, attribute = spec.handler.rpartition(".")
    path = spec.code_dir / f"{module_file}.py"
    # A unique module name per function: every function has its own app.py.
    loader_spec = importlib.util.spec_from_file_location(f"lambda_fn_{spec.logical_id}", path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    return getattr(module, attribute)


class InProcessLambdas:
    """Registry of handlers by function name, and the patch that routes moto to them."""

    def __init__(self, runtimes: dict[str, Any] | None = None) -> None:
        self._functions: dict[str, tuple[FunctionSpec, Callable[..., Any], Any]] = {}
        self._lock = threading.RLock()
        self.invocations: list[Invocation] = []
        self.output_listeners: list[Callable[[str], None]] = []

    def register(self, name: str, spec: FunctionSpec, runtime: Any) -> None:
        self._functions[name] = (spec, load_handler(spec), runtime)

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        spec, handler, runtime = self._functions[name]
        if isinstance(event, (str, bytes)):
            event = json.loads(event or "{}")
        context = LambdaContext(function_name=name, timeout_seconds=spec.timeout)
        buffer = io.StringIO()
        error_type = None
        # One invocation at a time: the handlers share this process's stdout and Powertools
        # state, which real Lambda keeps apart per execution environment.
        with self._lock, contextlib.redirect_stdout(buffer):
            try:
                result: Any = handler(event, context, runtime=runtime)
                payload = json.dumps(result, default=str)
            except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
                error_type = type(exc).__name__
                stack = traceback.format_exception(exc)
                result = {
                    "errorType": error_type,
                    "errorMessage": str(exc),
                    "stackTrace": stack[-3:],
                }
                payload = json.dumps(result)
                print(
                    json.dumps(
                        {
                            "level": "ERROR",
                            "message": "Unhandled exception",
                            "errorType": error_type,
                            "errorMessage": str(exc),
                        }
                    )
                )
        output = buffer.getvalue()
        self.invocations.append(Invocation(name, event, result, error_type, output))
        for listener in self.output_listeners:
            listener(output)
        return payload, error_type is not None, output

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        original = LambdaFunction._invoke_lambda
        registry = self

        def _invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            if function.function_name not in registry._functions:
                return original(function, event)
            return registry.invoke(function.function_name, event)

        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
        try:
            yield
        finally:
            LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]
