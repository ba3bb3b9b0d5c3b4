"""run_eagerly: results that are ready come back at once; the rest are awaited unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from visiongate.api.eager import Suspended, run_eagerly


async def _numbers(gate: asyncio.Event, log: list[str]) -> AsyncIterator[int]:
    try:
        yield 1
        yield 2
        await gate.wait()  # the provider has nothing more yet
        yield 3
    finally:
        log.append("closed")


@pytest.mark.timeout(5)
async def test_ready_items_come_back_without_waiting_then_the_rest_is_awaited() -> None:
    gate, log = asyncio.Event(), []
    items = _numbers(gate, log)
    assert run_eagerly(anext(items)) == 1
    assert run_eagerly(anext(items)) == 2
    step = run_eagerly(anext(items))
    assert isinstance(step, Suspended)
    asyncio.get_running_loop().call_later(0.01, gate.set)
    assert await step == 3
    with pytest.raises(StopAsyncIteration):
        run_eagerly(anext(items))
    assert log == ["closed"]


@pytest.mark.timeout(5)
async def test_cancelling_a_suspended_step_reaches_the_generator() -> None:
    gate, log = asyncio.Event(), []
    items = _numbers(gate, log)
    run_eagerly(anext(items))
    run_eagerly(anext(items))
    step = run_eagerly(anext(items))
    assert isinstance(step, Suspended)

    async def wait() -> int:
        return await step

    task = asyncio.create_task(wait())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["closed"]  # the generator saw the cancellation and ran its finally


@pytest.mark.timeout(5)
async def test_unwinding_a_step_that_will_not_be_awaited_lets_the_generator_close() -> None:
    gate, log = asyncio.Event(), []
    items = _numbers(gate, log)
    run_eagerly(anext(items))
    run_eagerly(anext(items))
    step = run_eagerly(anext(items))
    assert isinstance(step, Suspended)
    await step.unwind()
    assert log == ["closed"]
    await items.aclose()  # no "already running" error


@pytest.mark.timeout(5)
async def test_unwinding_waits_for_a_finally_that_awaits() -> None:
    log: list[str] = []

    async def provider() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(3600)
            yield 2  # pragma: no cover
        finally:
            await asyncio.sleep(0.01)  # e.g. settling a token reservation in Redis
            log.append("settled")

    items = provider()
    assert run_eagerly(anext(items)) == 1
    step = run_eagerly(anext(items))
    assert isinstance(step, Suspended)
    await step.unwind()
    assert log == ["settled"]
    await items.aclose()


@pytest.mark.timeout(5)
async def test_errors_raised_before_waiting_propagate() -> None:
    async def broken() -> AsyncIterator[int]:
        raise ValueError("upstream said no")
        yield 0  # pragma: no cover

    with pytest.raises(ValueError, match="upstream said no"):
        run_eagerly(anext(broken()))
