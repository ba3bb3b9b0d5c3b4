"""A bounded admission queue per local model: a few generations at once, a few waiting.

An in-process model has a fixed amount of compute; letting requests pile up without bound
only turns every answer into a timeout. So each model admits ``concurrency`` generations,
lets ``queue_size`` more wait in order, and refuses the rest at once with 503
``overloaded`` and a ``Retry-After`` estimated from how long recent generations held
their slot.

A slot is released explicitly (:meth:`Slot.release`, idempotent) rather than by a context
manager because a streamed generation hands its slot to the worker thread: the slot is
free only when the thread has really stopped, not when the client went away.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from visiongate.errors import Overloaded

__all__ = ["ModelQueue", "QueueState", "Slot"]

_MAX_RETRY_AFTER = 120
_EWMA = 0.3  # weight of the newest hold time in the running mean


@dataclass(frozen=True, slots=True)
class QueueState:
    running: int
    waiting: int
    concurrency: int
    queue_size: int


class Slot:
    """The right to run one generation; give it back exactly once with :meth:`release`."""

    __slots__ = ("_queue", "_released", "_started")

    def __init__(self, queue: ModelQueue) -> None:
        self._queue = queue
        self._started = time.monotonic()
        self._released = False

    def release(self) -> None:
        """Free the slot (call on the event loop's thread; later calls do nothing)."""
        if not self._released:
            self._released = True
            self._queue._give_back(time.monotonic() - self._started)


class ModelQueue:
    """Admission control for one model. Use from one event loop."""

    def __init__(self, model_id: str, concurrency: int, queue_size: int) -> None:
        self.model_id = model_id
        self.concurrency = max(1, concurrency)
        self.queue_size = max(0, queue_size)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._running = 0
        self._waiting = 0
        self._mean_hold: float | None = None

    def state(self) -> QueueState:
        return QueueState(self._running, self._waiting, self.concurrency, self.queue_size)

    async def acquire(self) -> Slot:
        """Wait for a slot in arrival order.

        Raises Overloaded (503, with Retry-After) at once when every slot is busy and
        ``queue_size`` requests already wait. Cancelling the wait leaves the queue intact.
        """
        busy = self._running >= self.concurrency or self._waiting > 0
        if busy and self._waiting >= self.queue_size:
            retry = self.retry_after()
            raise Overloaded(
                f"{self.model_id} is busy: {self._running} generation(s) running and "
                f"{self._waiting} waiting, the most this server queues "
                "(VISIONGATE_LOCAL_CONCURRENCY, VISIONGATE_LOCAL_QUEUE_SIZE). "
                f"Retry in {retry} s.",
                headers={"Retry-After": str(retry)},
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._running += 1
        return Slot(self)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free for one more request: the mean hold time
        times the queue ahead of it, per slot; 1 s before anything has been measured."""
        if self._mean_hold is None:
            return 1
        ahead = self._running + self._waiting
        estimate = self._mean_hold * ahead / self.concurrency
        return max(1, min(_MAX_RETRY_AFTER, math.ceil(estimate)))

    def _give_back(self, held: float) -> None:
        self._running -= 1
        self._slots.release()
        if self._mean_hold is None:
            self._mean_hold = held
        else:
            self._mean_hold = (1 - _EWMA) * self._mean_hold + _EWMA * held
