"""The per-model admission queue: N running, M waiting, the rest refused with 503."""

from __future__ import annotations

import asyncio

import pytest

from visiongate.errors import Overloaded
from visiongate.local.queue import ModelQueue

pytestmark = pytest.mark.timeout(10)


async def test_admits_concurrency_then_queues_then_refuses() -> None:
    queue = ModelQueue("local/m", concurrency=2, queue_size=1)
    first = await queue.acquire()
    second = await queue.acquire()
    waiter = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    assert queue.state().running == 2 and queue.state().waiting == 1
    with pytest.raises(Overloaded) as info:
        await queue.acquire()
    err = info.value
    assert err.status == 503 and err.code == "overloaded"
    assert int(err.headers["Retry-After"]) >= 1
    assert "local/m is busy" in err.message
    first.release()
    third = await asyncio.wait_for(waiter, 5)
    assert queue.state().running == 2 and queue.state().waiting == 0
    second.release()
    third.release()
    assert queue.state().running == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    queue = ModelQueue("local/m", concurrency=1, queue_size=3)
    held = await queue.acquire()
    order: list[int] = []

    async def take(i: int) -> None:
        slot = await queue.acquire()
        order.append(i)
        await asyncio.sleep(0)
        slot.release()

    tasks = [asyncio.create_task(take(i)) for i in range(3)]
    await asyncio.sleep(0)
    held.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == [0, 1, 2]


async def test_release_is_idempotent_and_cancelled_waiters_leave_no_trace() -> None:
    queue = ModelQueue("local/m", concurrency=1, queue_size=1)
    slot = await queue.acquire()
    waiter = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.state().waiting == 0
    slot.release()
    slot.release()
    assert queue.state().running == 0
    again = await asyncio.wait_for(queue.acquire(), 5)
    again.release()


async def test_retry_after_grows_with_measured_hold_time_and_queue() -> None:
    queue = ModelQueue("local/m", concurrency=1, queue_size=0)
    assert queue.retry_after() == 1  # nothing measured yet
    queue._mean_hold = 4.0  # as if generations had held their slot 4 s each
    slot = await queue.acquire()
    assert queue.retry_after() == 4
    with pytest.raises(Overloaded) as info:
        await queue.acquire()
    assert info.value.headers["Retry-After"] == "4"
    slot.release()
