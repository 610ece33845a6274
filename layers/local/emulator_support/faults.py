"""The seeded, thread-safe draws behind every emulator's fault injector.

One ``random.Random`` per emulator, guarded by a lock: the same seed and the same sequence of
calls give the same faults. (Concurrent callers interleave in whatever order the threads run,
so only sequential runs replay exactly.) What a draw means is each provider's own business.
"""

from __future__ import annotations

import random
import threading
from typing import Generic, TypeVar

FaultsT = TypeVar("FaultsT")


class SeededFaultInjector(Generic[FaultsT]):
    """Holds the current fault configuration and the seeded generator, under one lock.

    Subclasses decide per call; ``_draw`` takes the configuration and the numbers together, so
    a ``replace()`` never lands between them. Longer decisions may hold ``_lock`` themselves.
    """

    def __init__(self, faults: FaultsT, seed: int) -> None:
        self._faults = faults
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def faults(self) -> FaultsT:
        with self._lock:
            return self._faults

    def replace(self, faults: FaultsT) -> None:
        with self._lock:
            self._faults = faults

    def _draw(self, count: int) -> tuple[FaultsT, list[float]]:
        """The current faults and ``count`` fresh numbers in [0, 1), drawn as one step."""
        with self._lock:
            return self._faults, [self._random.random() for _ in range(count)]
