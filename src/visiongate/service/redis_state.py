"""Cooldowns and load figures shared by every process through Redis.

Imported only when ``VISIONGATE_REDIS_URL`` is set. One Lua script counts a failure and
starts a cooldown atomically, on Redis' own clock, so processes whose clocks disagree
still share one window; a request reads the cooldowns of its route's deployments in one
round trip (a pipeline, not MGET: each deployment's keys carry their own hash tag, so a
Redis Cluster may hold them on different shards). If Redis cannot be reached, this
process' memory stands in and the log says so, as for the rate limits.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from visiongate.core.routes import CooldownPolicy
from visiongate.service.cooldowns import MemoryCooldowns
from visiongate.service.load import LATENCY_WEIGHT, MemoryLoad

__all__ = ["RedisCooldowns", "RedisLoad", "open_redis"]

log = logging.getLogger(__name__)
_WARN_EVERY_S = 10.0
# An in-flight counter outlives a process that died mid-call by at most this long.
_BUSY_TTL_S = 600

# KEYS: failures (zset), cooldown (string: last failure ms); ARGV: window ms, failures,
# cooldown ms, at_once (0/1), member. Returns {started (0/1), now ms}.
_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local seconds_ms, at_once = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
if at_once == 0 and redis.call('ZCARD', KEYS[1]) < limit then return {0, now} end
redis.call('DEL', KEYS[1])
if seconds_ms > 0 then redis.call('SET', KEYS[2], now, 'PX', seconds_ms) end
return {1, now}
"""

# KEYS: latency average; ARGV: seconds, weight
_LATENCY = """
local old = redis.call('GET', KEYS[1])
local x, w = tonumber(ARGV[1]), tonumber(ARGV[2])
local new = x
if old then new = tonumber(old) + w * (x - tonumber(old)) end
redis.call('SET', KEYS[1], tostring(new), 'EX', 3600)
return 1
"""


def open_redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=2.0)


class _Warner:
    def __init__(self, what: str) -> None:
        self._what = what
        self._warned_at = float("-inf")

    def __call__(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "Redis unavailable for %s (%s); per process until it is back",
                self._what,
                type(exc).__name__,
            )


class RedisCooldowns:
    """Cooldowns every process sharing the Redis and the key prefix honours."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._failed = redis.register_script(_FAILED)
        self._local = MemoryCooldowns()
        self._warn = _Warner("cooldowns")

    def _key(self, name: str, kind: str) -> str:
        return f"{self._prefix}cd:{{{name}}}:{kind}"

    async def cooling(self, names: Sequence[str]) -> dict[str, float]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.get(self._key(name, "until"))
                    pipe.pttl(self._key(name, "until"))
                raw = await pipe.execute()
        except RedisError as exc:
            self._warn(exc)
            return self._local.cooling_now(names)
        out: dict[str, float] = {}
        now = time.time()
        for i, name in enumerate(names):
            value, ttl_ms = raw[2 * i], raw[2 * i + 1]
            if value is None or ttl_ms is None or ttl_ms <= 0:
                continue
            out[name] = int(value) / 1000
            self._local.mirror(name, now + ttl_ms / 1000, out[name])
        return out

    async def failed(self, name: str, policy: CooldownPolicy, at_once: bool = False) -> bool:
        args: list[int | float | str] = [
            int(policy.window_s * 1000),
            policy.failures,
            int(policy.seconds * 1000),
            int(at_once),
            secrets.token_hex(8),
        ]
        keys = [self._key(name, "failures"), self._key(name, "until")]
        try:
            started, now_ms = await self._failed(keys=keys, args=args)
        except RedisError as exc:
            self._warn(exc)
            return self._local.failed_now(name, policy, at_once)
        if started:
            self._local.mirror(name, time.time() + policy.seconds, int(now_ms) / 1000)
        return bool(started)

    def states(self) -> Mapping[str, int]:
        return self._local.states()

    async def close(self) -> None:
        await self._redis.aclose()


class RedisLoad:
    """Calls in flight and answer-time averages every process adds to and reads."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._latency_script = redis.register_script(_LATENCY)
        self._local = MemoryLoad()
        self._warn = _Warner("load figures")

    def _key(self, name: str, kind: str) -> str:
        return f"{self._prefix}ld:{{{name}}}:{kind}"

    async def _read(self, names: Sequence[str], kind: str) -> list[bytes | None] | None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.get(self._key(name, kind))
                return await pipe.execute()
        except RedisError as exc:
            self._warn(exc)
            return None

    async def busy(self, names: Sequence[str]) -> list[float]:
        raw = await self._read(names, "busy")
        if raw is None:
            return await self._local.busy(names)
        return [max(float(value), 0.0) if value is not None else 0.0 for value in raw]

    async def latency(self, names: Sequence[str]) -> list[float | None]:
        raw = await self._read(names, "latency")
        if raw is None:
            return await self._local.latency(names)
        return [float(value) if value is not None else None for value in raw]

    async def started(self, name: str) -> None:
        await self._local.started(name)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(self._key(name, "busy"))
                pipe.expire(self._key(name, "busy"), _BUSY_TTL_S)
                await pipe.execute()
        except RedisError as exc:
            self._warn(exc)

    async def finished(self, name: str, seconds: float | None) -> None:
        await self._local.finished(name, seconds)
        try:
            await self._redis.decr(self._key(name, "busy"))
            if seconds is not None:
                await self._latency_script(
                    keys=[self._key(name, "latency")], args=[seconds, LATENCY_WEIGHT]
                )
        except RedisError as exc:
            self._warn(exc)

    async def close(self) -> None:
        return None  # shares the cooldowns' connection, which closes it
