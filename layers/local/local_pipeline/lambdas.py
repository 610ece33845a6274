"""Running the real Lambda handlers behind moto's Lambda service.

moto runs function code in Docker, which this project does not need: the seam
``LambdaFunction._invoke_lambda`` is replaced (for the local run and the tests only) so that
every invocation path (direct Invoke, Step Functions Task states, S3 notifications) runs the
function's ``app.py`` with a Lambda-like context. Errors come back as Lambda reports them
(``errorType`` = exception class name), so the state machine's Retry and Catch route on the
same names as in AWS.

``ProcessLambdas`` runs each invocation in an execution environment of its own, a worker
process (``local_pipeline.environments``), so concurrent invocations really run concurrently.
``InProcessLambdas`` runs them in this process, one at a time (a debugger can step into them).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from subprocess import DEVNULL, Popen, TimeoutExpired
from typing import Any

from moto.awslambda.models import LambdaFunction

from local_pipeline.environments import (
    BOOTSTRAP,
    LambdaContext,
    error_log_line,
    invoke_handler,
)
from local_pipeline.environments import load_handler as _load_handler
from local_pipeline.template import FunctionSpec

__all__ = [
    "Invocation",
    "InProcessLambdas",
    "LambdaContext",
    "LambdasClosedError",
    "ProcessLambdas",
    "load_handler",
]

MAX_ENVIRONMENTS_PER_FUNCTION = 16
MEMORY_MB = 512  # template.yaml's functions keep Lambda's default memory size
# Lambda gives init 10 s; a laptop starting a dozen environments at once needs more.
INIT_TIMEOUT_SECONDS = 30.0


@dataclass
class Invocation:
    function: str
    event: Any
    result: Any
    error_type: str | None
    output: str
    cold_start: bool = False
    environment_pid: int | None = None  # None in process
    init_seconds: float | None = None  # a cold start's init (Lambda's "Init Duration")


class LambdasClosedError(RuntimeError):
    """An invocation arrived after close(): no environment is started any more."""


def load_handler(spec: FunctionSpec) -> Callable[..., Any]:
    return _load_handler(spec.code_dir, spec.handler, spec.logical_id)


class _Router:
    """The patch that routes moto's invocations of registered functions to ``invoke``."""

    def __init__(self) -> None:
        self._invocations_lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self.output_listeners: list[Callable[[str], None]] = []

    def handles(self, name: str) -> bool:
        raise NotImplementedError

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        raise NotImplementedError

    def _record(self, invocation: Invocation) -> None:
        with self._invocations_lock:
            self.invocations.append(invocation)
        for listener in self.output_listeners:
            listener(invocation.output)

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        original = LambdaFunction._invoke_lambda
        registry = self

        def _invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            if not registry.handles(function.function_name):
                return original(function, event)
            return registry.invoke(function.function_name, event)

        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
        try:
            yield
        finally:
            LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]


def _as_event(event: Any) -> Any:
    if isinstance(event, (str, bytes)):
        return json.loads(event or "{}")
    return {} if event is None else event


class InProcessLambdas(_Router):
    """Handlers called in this process with an injected runtime, one invocation at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._functions: dict[str, tuple[FunctionSpec, Callable[..., Any], Any]] = {}
        self._lock = threading.RLock()

    def register(self, name: str, spec: FunctionSpec, runtime: Any) -> None:
        self._functions[name] = (spec, load_handler(spec), runtime)

    def handles(self, name: str) -> bool:
        return name in self._functions

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        spec, handler, runtime = self._functions[name]
        event = _as_event(event)
        context = LambdaContext(function_name=name, timeout_seconds=spec.timeout)
        buffer = io.StringIO()
        # One invocation at a time: the handlers share this process's stdout and Powertools
        # state, which real Lambda keeps apart per execution environment.
        with self._lock, contextlib.redirect_stdout(buffer):
            payload, error_type = invoke_handler(handler, event, context, runtime=runtime)
        output = buffer.getvalue()
        self._record(Invocation(name, event, json.loads(payload), error_type, output))
        return payload, error_type is not None, output


# ---------------------------------------------------------------------- execution environments
@dataclass
class _Outcome:
    payload: str
    error_type: str | None
    output: str


class _EnvironmentFailedError(Exception):
    """The environment could not serve (init failed, died, timed out): it is discarded."""

    def __init__(self, outcome: _Outcome) -> None:
        super().__init__(outcome.error_type)
        self.outcome = outcome


def _failure(error_type: str, message: str, output: str, log_message: str) -> _Outcome:
    payload = {"errorType": error_type, "errorMessage": message}
    line = error_log_line(payload, log_message)
    return _Outcome(json.dumps(payload), error_type, f"{output}{line}\n")


def _exit_description(code: int) -> str:
    # Go's ProcessState wording, which Lambda's messages use ("exit status 3", "signal: killed").
    if code < 0:
        try:
            return f"signal: {signal.strsignal(-code) or -code}".lower()
        except ValueError:
            return f"signal: {-code}"
    return f"exit status {code}"


class _ExecutionEnvironment:
    """The parent's handle on one worker process: start (init), run one invocation, stop."""

    def __init__(self, name: str, spec: FunctionSpec, environment: dict[str, str]) -> None:
        self.name = name
        self._spec = spec
        self._environment = environment
        self._lock = threading.Lock()
        self._process: Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._log_fd: int | None = None
        self._stopped = False
        self.init_seconds = 0.0
        self.generation = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None and not self._stopped

    def start(self) -> None:
        """Spawn the worker and wait for its init; raises _EnvironmentFailedError."""
        started = time.monotonic()
        # stdout and stderr of the worker: an unnamed file, appended to by the worker and read
        # (then emptied) by us after each invocation, and after a death: nothing is lost.
        fd, path = tempfile.mkstemp(prefix=f"lambda-{self.name}-", suffix=".log")
        os.unlink(path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        self._log_fd = fd
        ours, theirs = Pipe(duplex=True)
        self._connection = ours
        environment = {
            **os.environ,
            **self._environment,
            # Lambda's reserved variables (not LAMBDA_TASK_ROOT: Powertools would start tracing).
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
        }
        command = [
            sys.executable,
            "-c",
            BOOTSTRAP,
            json.dumps([str(entry) for entry in sys.path]),
            str(theirs.fileno()),
            str(os.getpid()),
        ]
        try:
            with self._lock:
                if self._stopped:
                    raise LambdasClosedError("the local Lambdas are closed")
                # Not multiprocessing's spawn: it would re-import this process's __main__ (the
                # CLI, moto and all) into every environment. A plain new interpreter instead.
                self._process = Popen(  # noqa: S603 - our own interpreter and bootstrap
                    command,
                    stdin=DEVNULL,
                    stdout=fd,
                    stderr=fd,
                    env=environment,
                    pass_fds=(theirs.fileno(),),
                    close_fds=True,
                )
        finally:
            theirs.close()
        self._send(
            {
                "function_name": self.name,
                "code_dir": str(self._spec.code_dir),
                "handler": self._spec.handler,
                "timeout": self._spec.timeout,
                "memory_mb": MEMORY_MB,
            }
        )
        reply = self._receive(INIT_TIMEOUT_SECONDS)
        if reply is None:
            raise self._timed_out(f"Init timed out after {INIT_TIMEOUT_SECONDS:.0f} seconds")
        if "init_error" in reply:
            payload = reply["init_error"]
            self.kill()
            raise _EnvironmentFailedError(
                _Outcome(json.dumps(payload), payload["errorType"], self.read_output())
            )
        self.init_seconds = time.monotonic() - started

    def run(self, request_id: str, event: Any, kill_after: float | None) -> _Outcome:
        """One invocation; raises _EnvironmentFailedError when the worker died or timed out."""
        timeout = self._spec.timeout
        self._send(
            {
                "request_id": request_id,
                "event": json.dumps(event, default=str),
                "deadline": time.time() + timeout,
            },
            request_id,
        )
        killer = threading.Timer(kill_after, self.kill) if kill_after is not None else None
        if killer:
            killer.daemon = True
            killer.start()
        try:
            reply = self._receive(timeout, request_id)
        finally:
            if killer:
                killer.cancel()
        if reply is None:
            raise self._timed_out(
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            )
        return _Outcome(reply["payload"], reply["error_type"], self.read_output())

    def _send(self, message: dict[str, Any], request_id: str = "") -> None:
        assert self._connection is not None
        try:
            self._connection.send_bytes(json.dumps(message).encode("utf-8"))
        except OSError:  # the worker is gone (died while idle, or just now)
            raise self._exited(request_id) from None

    def _receive(self, timeout: float, request_id: str = "") -> dict[str, Any] | None:
        """The worker's reply, or None when it did not answer within ``timeout`` seconds."""
        assert self._connection is not None
        try:
            if not self._connection.poll(timeout):  # poll is also True at end of file
                return None
            return json.loads(self._connection.recv_bytes())
        except (EOFError, OSError):
            raise self._exited(request_id) from None

    def _timed_out(self, message: str) -> _EnvironmentFailedError:
        self.kill()
        description = _exit_description(self._wait())
        log = f"{message} (execution environment {self.pid} stopped: {description})"
        return _EnvironmentFailedError(
            _failure("Sandbox.Timedout", message, self.read_output(), log)
        )

    def _exited(self, request_id: str) -> _EnvironmentFailedError:
        description = _exit_description(self._wait())
        prefix = f"RequestId: {request_id} Error: " if request_id else ""
        message = f"{prefix}Runtime exited with error: {description}"
        log = f"Execution environment {self.pid} exited ({description})"
        return _EnvironmentFailedError(
            _failure("Runtime.ExitError", message, self.read_output(), log)
        )

    def _wait(self) -> int:
        assert self._process is not None
        try:
            return self._process.wait(timeout=5)
        except TimeoutExpired:  # closed its end without exiting
            self.kill()
            return self._process.wait()

    def read_output(self) -> str:
        """What the worker wrote since the last read (the file is emptied after reading)."""
        if self._log_fd is None:
            return ""
        chunks, offset = [], 0
        while chunk := os.pread(self._log_fd, 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        os.ftruncate(self._log_fd, 0)
        return b"".join(chunks).decode("utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL, from any thread (close(), kill_during); the owner then discards us."""
        with self._lock:
            self._stopped = True
            if self._process is not None and self._process.poll() is None:
                self._process.kill()

    def discard(self) -> None:
        """Kill, reap and free the file descriptors. Only by the thread that owns us."""
        self.kill()
        if self._process is not None:
            with contextlib.suppress(TimeoutExpired):
                self._process.wait(timeout=5)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None


@dataclass
class _Pool:
    """The execution environments of one function and its concurrency figures."""

    name: str
    spec: FunctionSpec
    environment: dict[str, str]
    idle: list[_ExecutionEnvironment] = field(default_factory=list)
    live: set[_ExecutionEnvironment] = field(default_factory=set)
    started: int = 0
    running: int = 0
    max_running: int = 0
    generation: int = 0  # environments of an older generation are not reused (recycle())
    kills: deque[float] = field(default_factory=deque)  # kill_during delays still to apply


def _kill_all(live: set[_ExecutionEnvironment]) -> None:
    for environment in list(live):
        environment.kill()


class ProcessLambdas(_Router):
    """One worker process per concurrent invocation of a function, like Lambda's environments.

    An idle environment of the function is reused (warm start: module imported, runtime cached);
    when all are busy a new one starts (cold start), up to ``max_environments`` per function;
    beyond that invocations queue until one is free (Lambda would throttle instead, and Step
    Functions would retry ``Lambda.TooManyRequestsException``: the queue gives the same order
    without the retry delays). Nothing is started before the first invocation.

    A worker that dies during an invocation yields ``Runtime.ExitError``; one that runs past the
    function's timeout is killed and yields ``Sandbox.Timedout``; either way it is discarded.
    """

    def __init__(self, *, max_environments: int = MAX_ENVIRONMENTS_PER_FUNCTION) -> None:
        super().__init__()
        self.max_environments = max_environments
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._live: set[_ExecutionEnvironment] = set()
        # Also at interpreter exit (Ctrl-C ending the program, a test run stopping).
        self._finalizer = weakref.finalize(self, _kill_all, self._live)

    def register(self, name: str, spec: FunctionSpec, environment: dict[str, str]) -> None:
        with self._lock:
            self._pools[name] = _Pool(name, spec, dict(environment))

    def handles(self, name: str) -> bool:
        return name in self._pools

    # ------------------------------------------------------------------ invoking
    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        pool = self._pools[name]
        event = _as_event(event)
        request_id = str(uuid.uuid4())
        environment, cold, kill_after = self._acquire(pool)
        reusable = False
        try:
            if cold:
                environment.start()
            outcome = environment.run(request_id, event, kill_after)
            reusable = True
        except _EnvironmentFailedError as failed:
            outcome = failed.outcome
        finally:
            self._release(pool, environment, reusable)
        result = json.loads(outcome.payload)
        init_seconds = environment.init_seconds if cold else None
        self._record(
            Invocation(
                name,
                event,
                result,
                outcome.error_type,
                outcome.output,
                cold,
                environment.pid,
                init_seconds,
            )
        )
        return outcome.payload, outcome.error_type is not None, outcome.output

    def _acquire(self, pool: _Pool) -> tuple[_ExecutionEnvironment, bool, float | None]:
        """An idle environment (warm), else a new one (cold) if under the cap, else wait."""
        with self._lock:
            while True:
                if self._closed:
                    raise LambdasClosedError("the local Lambdas are closed")
                environment = self._idle_environment(pool)
                cold = environment is None
                if environment is None and len(pool.live) < self.max_environments:
                    environment = _ExecutionEnvironment(pool.name, pool.spec, pool.environment)
                    environment.generation = pool.generation
                    pool.live.add(environment)
                    self._live.add(environment)
                    pool.started += 1
                if environment is not None:
                    break
                self._lock.wait()
            pool.running += 1
            pool.max_running = max(pool.max_running, pool.running)
            kill_after = pool.kills.popleft() if pool.kills else None
            return environment, cold, kill_after

    def _idle_environment(self, pool: _Pool) -> _ExecutionEnvironment | None:
        while pool.idle:
            environment = pool.idle.pop()  # the most recently used one, as Lambda tends to
            if environment.alive():
                return environment
            self._forget(pool, environment)  # died while idle (killed from outside)
            environment.discard()
        return None

    def _release(self, pool: _Pool, environment: _ExecutionEnvironment, reusable: bool) -> None:
        with self._lock:
            pool.running -= 1
            keep = (
                reusable
                and not self._closed
                and environment.generation == pool.generation
                and environment.alive()
            )
            if keep:
                pool.idle.append(environment)
            else:
                self._forget(pool, environment)
            self._lock.notify_all()
        if not keep:
            environment.discard()

    def _forget(self, pool: _Pool, environment: _ExecutionEnvironment) -> None:
        pool.live.discard(environment)
        self._live.discard(environment)

    def recycle(self, name: str | None = None) -> None:
        """Start the next invocations in fresh environments, as Lambda does after a function's
        configuration changes: idle environments stop now, busy ones when they finish. What a
        handler cached (a secret, a runtime) is gone; clearing caches in this process does not
        reach the environments."""
        with self._lock:
            pools = [self._pools[name]] if name else list(self._pools.values())
            idle = []
            for pool in pools:
                pool.generation += 1
                for environment in pool.idle:
                    self._forget(pool, environment)
                idle.extend(pool.idle)
                pool.idle.clear()
        for environment in idle:
            environment.discard()

    # ------------------------------------------------------------------ tests and introspection
    def kill_during(self, name: str, after_seconds: float, count: int = 1) -> None:
        """SIGKILL the environment of each of the next ``count`` invocations of ``name``
        ``after_seconds`` after it starts (an out-of-memory kill half way). An invocation that
        ends sooner is not killed, and uses up its kill all the same."""
        with self._lock:
            self._pools[name].kills.extend([after_seconds] * count)

    def environment_count(self, name: str | None = None) -> int:
        """Environments started so far (cold starts), for one function or for all."""
        with self._lock:
            pools = [self._pools[name]] if name else list(self._pools.values())
            return sum(pool.started for pool in pools)

    def live_environments(self, name: str | None = None) -> int:
        """Environments running now (idle or busy)."""
        with self._lock:
            pools = [self._pools[name]] if name else list(self._pools.values())
            return sum(len(pool.live) for pool in pools)

    def environment_pids(self, name: str | None = None) -> list[int]:
        with self._lock:
            pools = [self._pools[name]] if name else list(self._pools.values())
            return [e.pid for pool in pools for e in pool.live if e.pid is not None]

    def max_concurrent(self, name: str) -> int:
        """The most invocations of ``name`` seen running at the same time."""
        with self._lock:
            return self._pools[name].max_running

    # ------------------------------------------------------------------ stopping
    def close(self) -> None:
        """Kill every environment; invocations still running return Runtime.ExitError and new
        ones raise LambdasClosedError."""
        with self._lock:
            self._closed = True
            idle = [e for pool in self._pools.values() for e in pool.idle]
            for pool in self._pools.values():
                for environment in pool.idle:
                    self._forget(pool, environment)
                pool.idle.clear()
            busy = list(self._live)
            self._lock.notify_all()
        for environment in busy:
            environment.kill()  # their invoking threads see the end of file and discard them
        for environment in idle:
            environment.discard()

    def __enter__(self) -> ProcessLambdas:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
