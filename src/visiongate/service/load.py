"""What the ``least-busy`` and ``lowest-latency`` strategies read: calls in flight and a
moving average of answer times, per deployment.

Only routes with those strategies touch it, so a weighted or ordered route pays nothing.
In memory for one process (:class:`MemoryLoad`); with ``VISIONGATE_REDIS_URL`` every
process and replica adds to and reads the same figures (``redis_state.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["LATENCY_WEIGHT", "Load", "MemoryLoad"]

# Weight of the newest answer time in the moving average: the last ~5 calls dominate.
LATENCY_WEIGHT = 0.3


class Load(Protocol):
    async def busy(self, names: Sequence[str]) -> list[float]:
        """Calls in flight for each of ``names``."""
        ...

    async def latency(self, names: Sequence[str]) -> list[float | None]:
        """The moving average of answer seconds for each of ``names`` (None: no call yet)."""
        ...

    async def started(self, name: str) -> None: ...

    async def finished(self, name: str, seconds: float | None) -> None:
        """A call ended; ``seconds`` is its answer time when it succeeded."""
        ...

    async def close(self) -> None: ...


class MemoryLoad:
    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._latency: dict[str, float] = {}

    async def busy(self, names: Sequence[str]) -> list[float]:
        return [float(self._busy.get(name, 0)) for name in names]

    async def latency(self, names: Sequence[str]) -> list[float | None]:
        return [self._latency.get(name) for name in names]

    async def started(self, name: str) -> None:
        self._busy[name] = self._busy.get(name, 0) + 1

    async def finished(self, name: str, seconds: float | None) -> None:
        self._busy[name] = max(self._busy.get(name, 1) - 1, 0)
        if seconds is not None:
            old = self._latency.get(name)
            self._latency[name] = seconds if old is None else old + LATENCY_WEIGHT * (seconds - old)

    async def close(self) -> None:
        return None
