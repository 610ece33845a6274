"""A synchronous provider's emulator in a process of its own, as the provider is a system of
its own.

In the local run's process the emulator would share one interpreter lock with moto (every S3,
DynamoDB and Step Functions call of every Lambda lands there): a pause of that process holds
back requests that were sent on time and lets them in together, so a rate limit measured at
arrival would see bursts the pipeline never sent. Here the emulator answers from its own
interpreter; the local run talks to it over HTTP like the pipeline does, and controls it
(counters, faults) through a pipe: ``EmulatorProcess(...).state.snapshot()``,
``.set_faults(FaultConfig(...))`` work as on the in-process server.
"""

from __future__ import annotations

import importlib
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

# Provider name -> (module, config class, server class).
EMULATORS = {
    "amazon-location": ("location_emulator", "LocationEmulatorConfig", "LocationEmulatorServer"),
    "azure-maps": ("azure_maps_emulator", "AzureMapsEmulatorConfig", "AzureMapsEmulatorServer"),
}
_STATE_CALLS = {"snapshot", "reset"}
_STATE_ATTRIBUTES = {"accepted_timestamps", "max_accepted_per_second"}


def _serve(connection: Connection, provider: str, settings: dict[str, Any]) -> None:
    """The child: build the emulator, send its URL, answer control calls until told to stop."""
    module_name, config_name, server_name = EMULATORS[provider]
    module = importlib.import_module(module_name)
    config = getattr(module, config_name)(**settings)
    with getattr(module, server_name)(config) as server:
        connection.send(server.url)
        while True:
            try:
                call, args = connection.recv()
            except EOFError:
                return  # the parent went away
            if call == "stop":
                connection.send(None)
                return
            try:
                if call in _STATE_CALLS:
                    result = getattr(server.state, call)(*args)
                elif call in _STATE_ATTRIBUTES:
                    result = getattr(server.state, call)
                else:  # set_faults, set_rate_limit
                    result = getattr(server, call)(*args)
                connection.send(("ok", result))
            except Exception as exc:  # noqa: BLE001 - sent back and raised in the parent
                connection.send(("error", f"{type(exc).__name__}: {exc}"))


class _RemoteState:
    def __init__(self, owner: EmulatorProcess) -> None:
        self._owner = owner

    def snapshot(self) -> dict[str, Any]:
        return self._owner.call("snapshot")

    def reset(self) -> None:
        self._owner.call("reset")

    @property
    def accepted_timestamps(self) -> list[float]:
        return self._owner.call("accepted_timestamps")

    @property
    def max_accepted_per_second(self) -> int:
        return self._owner.call("max_accepted_per_second")


class EmulatorProcess:
    """Context manager: ``with EmulatorProcess("amazon-location", {...}) as emulator: ...``."""

    def __init__(self, provider: str, settings: dict[str, Any] | None = None) -> None:
        if provider not in EMULATORS:
            raise ValueError(f"no emulator process for provider {provider!r}")
        self.provider = provider
        self._settings = dict(settings or {})
        self._connection: Connection | None = None
        self._process: Any = None
        self.url = ""
        self.state = _RemoteState(self)

    def start(self) -> EmulatorProcess:
        context = multiprocessing.get_context("spawn")  # never fork a process running moto
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, self.provider, self._settings),
            name=f"{self.provider}-emulator",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._connection = parent
        if not parent.poll(120):
            self.stop()
            raise RuntimeError(f"the {self.provider} emulator did not start")
        self.url = parent.recv()
        return self

    def call(self, name: str, *args: Any) -> Any:
        assert self._connection is not None, "the emulator process is not running"
        self._connection.send((name, args))
        status, result = self._connection.recv()
        if status == "error":
            raise RuntimeError(f"the {self.provider} emulator refused {name}: {result}")
        return result

    def set_faults(self, faults: Any) -> None:
        self.call("set_faults", faults)

    def set_rate_limit(self, rate: float | None) -> None:
        self.call("set_rate_limit", rate)

    def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.send(("stop", ()))
                connection.poll(10) and connection.recv()
            except (OSError, EOFError):
                pass
            connection.close()
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
            self._process = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
