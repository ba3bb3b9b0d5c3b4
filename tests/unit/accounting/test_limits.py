"""The sliding-window limiter, the same rules in memory and in Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import pytest

from visiongate.accounting.limits import Decision, Limiter, MemoryLimiter, format_reset

pytestmark = pytest.mark.timeout(30)

Make = Callable[[float], Limiter]


async def _acquire(limiter: Limiter, rpm: int | None, tpm: int | None, tokens: int) -> Decision:
    return await limiter.acquire("key_a", rpm, tpm, tokens, secrets.token_hex(8))


async def test_requests_per_minute_is_exact(make_limiter: Make) -> None:
    limiter = make_limiter(60)
    results = [await _acquire(limiter, 5, None, 0) for _ in range(8)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 3
    assert [r.headers()["x-ratelimit-remaining-requests"] for r in results[:5]] == list("43210")
    refused = results[-1]
    assert refused.exceeded == "requests"
    headers = refused.headers()
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 55 <= int(headers["retry-after"]) <= 60
    assert "x-ratelimit-limit-tokens" not in headers


async def test_keys_do_not_share_a_window(make_limiter: Make) -> None:
    limiter = make_limiter(60)
    assert (await limiter.acquire("key_a", 1, None, 0, "m1")).allowed
    assert (await limiter.acquire("key_b", 1, None, 0, "m2")).allowed
    assert not (await limiter.acquire("key_a", 1, None, 0, "m3")).allowed


async def test_tokens_per_minute_reserve_then_settle(make_limiter: Make) -> None:
    limiter = make_limiter(60)
    first = await _acquire(limiter, None, 1000, 600)
    assert first.allowed and first.headers()["x-ratelimit-remaining-tokens"] == "400"
    refused = await _acquire(limiter, None, 1000, 500)
    assert not refused.allowed and refused.exceeded == "tokens"
    assert refused.headers()["retry-after"]
    # The request used far less than estimated: the difference is given back.
    assert first.ticket is not None
    await limiter.settle(first.ticket, 100)
    second = await _acquire(limiter, None, 1000, 500)
    assert second.allowed and second.headers()["x-ratelimit-remaining-tokens"] == "400"
    # Using more than reserved takes it from what is left.
    assert second.ticket is not None
    await limiter.settle(second.ticket, 850)
    assert not (await _acquire(limiter, None, 1000, 100)).allowed
    assert (await _acquire(limiter, None, 1000, 50)).allowed


async def test_a_request_larger_than_the_tpm_can_never_fit(make_limiter: Make) -> None:
    limiter = make_limiter(60)
    refused = await _acquire(limiter, 10, 1000, 1001)
    assert not refused.allowed and refused.exceeded == "tokens_oversized"
    assert "retry-after" not in refused.headers()


async def test_window_slides(make_limiter: Make) -> None:
    limiter = make_limiter(0.3)
    assert (await _acquire(limiter, 2, 100, 60)).allowed
    assert (await _acquire(limiter, 2, 100, 40)).allowed
    assert not (await _acquire(limiter, 2, 100, 1)).allowed
    await asyncio.sleep(0.45)
    after = await _acquire(limiter, 2, 100, 100)
    assert after.allowed and after.requests_used == 1 and after.tokens_used == 100


async def test_settle_after_the_entry_left_the_window_changes_nothing(make_limiter: Make) -> None:
    limiter = make_limiter(0.2)
    first = await _acquire(limiter, None, 100, 90)
    await asyncio.sleep(0.3)
    second = await _acquire(limiter, None, 100, 90)
    assert first.ticket is not None and second.allowed
    await limiter.settle(first.ticket, 0)  # gone already: must not free tokens it never held
    assert not (await _acquire(limiter, None, 100, 20)).allowed


async def test_concurrent_admissions_hold_the_limit(make_limiter: Make) -> None:
    # Several limiter instances stand for several processes (in Redis they share state;
    # in memory each instance is one process, so one instance is used there).
    limiters = [make_limiter(60) for _ in range(3)]
    if isinstance(limiters[0], MemoryLimiter):
        limiters = limiters[:1]
    results = await asyncio.gather(
        *(_acquire(limiters[i % len(limiters)], 30, None, 0) for i in range(60))
    )
    assert sum(r.allowed for r in results) == 30


def test_format_reset_writes_durations_like_openai() -> None:
    assert format_reset(0.017) == "17ms"
    assert format_reset(2.3834) == "2.383s"
    assert format_reset(1) == "1s"
    assert format_reset(59.9996) == "1m0s"
    assert format_reset(360) == "6m0s"
    assert format_reset(-1) == "0ms"
