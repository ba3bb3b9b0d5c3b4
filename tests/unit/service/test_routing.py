"""The routing policy's pieces: failure classes, target order, cooldowns (memory and a
real Redis) and the shared load figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.support.services import redis_namespace
from visiongate.core.catalog import load_catalog
from visiongate.core.routes import CooldownPolicy, Route, Target
from visiongate.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    UpstreamError,
    UpstreamTimeout,
)
from visiongate.providers.base import map_upstream_status
from visiongate.providers.delay import parse_delay
from visiongate.service.cooldowns import MemoryCooldowns
from visiongate.service.load import MemoryLoad
from visiongate.service.redis_state import RedisCooldowns, RedisLoad
from visiongate.service.routing import (
    CREDENTIALS,
    FALLBACK,
    FATAL,
    RETRY,
    Router,
    backoff_s,
    classify,
)
from visiongate.settings import Settings

ROUTE = Route(name="r", targets=(Target("gpt-4o"),))


def upstream(status: int, code: str | None = None, retry_after: str | None = None) -> Any:
    return map_upstream_status("p", status, "said so", None, parse_delay(retry_after), code)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (upstream(500), RETRY),
        (upstream(503), RETRY),
        (upstream(529), RETRY),
        (upstream(429), RETRY),
        (upstream(504), RETRY),
        (UpstreamTimeout("no answer"), RETRY),
        (UpstreamError("could not reach p"), RETRY),
        (upstream(401), CREDENTIALS),
        (upstream(402), CREDENTIALS),
        (upstream(403), CREDENTIALS),
        (upstream(400, "context_length_exceeded"), FALLBACK),
        (upstream(400, "content_filter"), FALLBACK),
        (upstream(400), FATAL),
        (upstream(404), FATAL),
        (upstream(422), FATAL),
        (InvalidRequest("an image in a tool message", code="unsupported_content"), FATAL),
        (GatewayError("our own bug"), FATAL),
    ],
)
def test_failure_classes(error: GatewayError, kind: str) -> None:
    assert classify(error, ROUTE) == kind


def test_fallback_on_is_configurable() -> None:
    strict = Route(name="r", targets=(Target("gpt-4o"),), fallback_on=frozenset())
    assert classify(upstream(400, "content_filter"), strict) == FATAL


def test_backoff_honours_the_upstream_delay_capped() -> None:
    assert backoff_s(0, upstream(429, retry_after="1.5")) == 1.5
    assert backoff_s(0, upstream(429, retry_after="3600")) == 20.0
    assert 0.25 <= backoff_s(0, upstream(500)) <= 0.35
    assert 1.0 <= backoff_s(2, upstream(500)) <= 1.1


def router(cooldowns: Any = None, load: Any = None, **routes: dict[str, Any]) -> Router:
    catalog = load_catalog({"routes": routes}, environ={"OPENAI_API_KEY": "sk-x"})
    return Router(Settings(), catalog, {}, cooldowns or MemoryCooldowns(), load or MemoryLoad())


async def test_weighted_order_draws_the_first_target_by_weight() -> None:
    r = router(w={"targets": [{"model": "gpt-4o", "weight": 9}, "gpt-4o-mini"]})
    route = r.route("w")
    firsts = Counter([(await r.ordered(route))[0] for _ in range(2000)])
    # 0.9 expected; 0.86-0.94 is over six standard deviations (0.0067).
    assert 0.86 <= firsts["gpt-4o"] / 2000 <= 0.94
    assert sorted(await r.ordered(route)) == ["gpt-4o", "gpt-4o-mini"]


async def test_cooling_targets_are_left_out_unless_all_are() -> None:
    clock = [1000.0]
    cooldowns = MemoryCooldowns(clock=lambda: clock[0])
    r = router(
        cooldowns, o={"targets": ["gpt-4o", "gpt-4o-mini", "gpt-4-turbo"], "strategy": "ordered"}
    )
    route = r.route("o")
    policy = CooldownPolicy(failures=2, window_s=10, seconds=30)
    assert not await cooldowns.failed("gpt-4o", policy)
    clock[0] += 11  # the first failure left the window
    assert not await cooldowns.failed("gpt-4o", policy)
    assert await cooldowns.failed("gpt-4o", policy)  # two within 10 s
    assert await r.ordered(route) == ["gpt-4o-mini", "gpt-4-turbo"]
    clock[0] += 1
    assert await cooldowns.failed("gpt-4-turbo", policy, at_once=True)
    clock[0] += 1
    assert await cooldowns.failed("gpt-4o-mini", policy, at_once=True)
    assert await r.ordered(route) == ["gpt-4o"]  # all cooling: the least recently failed
    assert cooldowns.states() == {"gpt-4o": 1, "gpt-4-turbo": 1, "gpt-4o-mini": 1}
    clock[0] += 31
    assert await r.ordered(route) == ["gpt-4o", "gpt-4o-mini", "gpt-4-turbo"]
    assert set(cooldowns.states().values()) == {0}


async def test_least_busy_and_lowest_latency_read_the_load() -> None:
    load = MemoryLoad()
    targets = ["gpt-4o", "gpt-4o-mini"]
    r = router(
        load=load,
        busy={"targets": targets, "strategy": "least-busy"},
        fast={"targets": targets, "strategy": "lowest-latency"},
    )
    await load.started("gpt-4o")
    assert await r.ordered(r.route("busy")) == ["gpt-4o-mini", "gpt-4o"]
    await load.finished("gpt-4o", 0.5)
    await load.started("gpt-4o-mini")
    await load.finished("gpt-4o-mini", 2.0)
    assert await r.ordered(r.route("busy")) == ["gpt-4o", "gpt-4o-mini"]
    assert await r.ordered(r.route("fast")) == ["gpt-4o", "gpt-4o-mini"]


def test_unknown_names_are_404() -> None:
    with pytest.raises(ModelNotFound):
        router().route("nope")
    assert router().route("gpt-4o").implicit


@pytest.fixture
async def shared() -> AsyncIterator[tuple[Redis, Redis, str]]:
    with redis_namespace() as (url, prefix):
        a, b = Redis.from_url(url), Redis.from_url(url)
        try:
            yield a, b, prefix
        finally:
            await a.aclose()
            await b.aclose()


async def test_redis_cooldowns_are_shared(shared: tuple[Redis, Redis, str]) -> None:
    a, b, prefix = shared
    one, two = RedisCooldowns(a, prefix), RedisCooldowns(b, prefix)
    policy = CooldownPolicy(failures=2, window_s=60, seconds=30)
    assert not await one.failed("m", policy)
    assert await two.cooling(["m"]) == {}
    assert await two.failed("m", policy)  # the second failure, in another process
    cooling = await one.cooling(["m", "other"])
    assert list(cooling) == ["m"]
    assert one.states() == {"m": 1}
    assert await one.failed("k", policy, at_once=True)
    assert set(await two.cooling(["m", "k"])) == {"m", "k"}


async def test_redis_load_is_shared(shared: tuple[Redis, Redis, str]) -> None:
    a, b, prefix = shared
    one, two = RedisLoad(a, prefix), RedisLoad(b, prefix)
    await one.started("m")
    await one.started("m")
    assert await two.busy(["m", "n"]) == [2.0, 0.0]
    await one.finished("m", 1.0)
    await two.finished("m", 2.0)
    assert await one.busy(["m"]) == [0.0]
    [average] = await two.latency(["m"])
    assert average is not None and abs(average - 1.3) < 1e-9
    assert await one.latency(["n"]) == [None]


async def test_redis_away_falls_back_to_memory() -> None:
    gone = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    cooldowns = RedisCooldowns(gone, "x:")
    policy = CooldownPolicy(failures=1)
    try:
        assert await cooldowns.failed("m", policy)
        assert list(await cooldowns.cooling(["m"])) == ["m"]
    finally:
        await gone.aclose()
