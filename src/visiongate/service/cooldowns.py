"""Cooldowns: which deployments are taken out of traffic for a while, and since when.

A deployment (a catalog model: one provider account and one upstream name) that fails
``failures`` times within ``window_s`` seconds, or whose provider refuses the gateway's
credentials once, cools down for ``seconds``: routes send it nothing until then. Each
cooldown remembers when its last failure happened, so that when every target of a route
is cooling the least recently failed one is tried.

In memory for one process (:class:`MemoryCooldowns`); with ``VISIONGATE_REDIS_URL``
every process and replica shares them (``redis_state.py``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from visiongate.core.routes import CooldownPolicy

__all__ = ["Cooldowns", "MemoryCooldowns"]


class Cooldowns(Protocol):
    async def cooling(self, names: Sequence[str]) -> dict[str, float]:
        """Of ``names``, those cooling now, each with the time of its last failure
        (epoch seconds)."""
        ...

    async def failed(self, name: str, policy: CooldownPolicy, at_once: bool = False) -> bool:
        """Count one failed call of ``name``; True when that started a cooldown
        (``at_once``: start it whatever the count, as for a refused provider key)."""
        ...

    def states(self) -> Mapping[str, int]:
        """1 for each deployment this process knows to be cooling, 0 for those it saw
        cool before and now taking traffic (the ``visiongate_deployment_state`` gauge)."""
        ...

    async def close(self) -> None: ...


class MemoryCooldowns:
    """Cooldowns of one process: a window of failure times and an end time per deployment."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._until: dict[str, tuple[float, float]] = {}  # name -> (until, last failure)

    def _now(self) -> float:
        return self._clock()

    async def cooling(self, names: Sequence[str]) -> dict[str, float]:
        return self.cooling_now(names)

    def cooling_now(self, names: Sequence[str]) -> dict[str, float]:
        if not self._until:
            return {}
        now = self._now()
        out: dict[str, float] = {}
        for name in names:
            entry = self._until.get(name)
            if entry is not None and entry[0] > now:
                out[name] = entry[1]
        return out

    async def failed(self, name: str, policy: CooldownPolicy, at_once: bool = False) -> bool:
        return self.failed_now(name, policy, at_once)

    def failed_now(self, name: str, policy: CooldownPolicy, at_once: bool = False) -> bool:
        now = self._now()
        window = self._failures.setdefault(name, deque())
        window.append(now)
        while window and window[0] <= now - policy.window_s:
            window.popleft()
        if not at_once and len(window) < policy.failures:
            return False
        window.clear()
        self._until[name] = (now + policy.seconds, now)
        return True

    def mirror(self, name: str, until: float, last_failure: float) -> None:
        """Remember a cooldown learnt elsewhere (Redis), for the gauge and as a fallback."""
        self._until[name] = (until, last_failure)

    def states(self) -> Mapping[str, int]:
        now = self._now()
        return {name: int(until > now) for name, (until, _) in self._until.items()}

    async def close(self) -> None:
        return None
