"""The sliding-window limits of ``limits.py``, shared by every process through Redis.

One Lua script prunes, checks and records a request atomically, so N processes admitting
at once together hold exactly the limit. The script reads Redis' own clock (``TIME``), so
machines whose clocks disagree still share one window. Per key it keeps a sorted set of
request ids by time, a hash of each request's reserved tokens and their running total,
all under one hash tag (``{key_id}``) so a Redis Cluster keeps them on one shard.

If Redis cannot be reached, admission falls back to this process' memory limiter rather
than refusing every request; the log says so.
"""

from __future__ import annotations

import logging
import secrets
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from visiongate.accounting.limits import WINDOW_S, Decision, MemoryLimiter, Ticket

__all__ = ["RedisLimiter"]

log = logging.getLogger(__name__)

_EXCEEDED = {0: None, 1: "requests", 2: "tokens", 3: "tokens_oversized"}
_WARN_EVERY_S = 10.0

# KEYS: log (zset member->ms), tokens (hash member->tokens), sum (string)
# ARGV: rpm (-1: none), tpm (-1: none), tokens, window_ms, member
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local cutoff = now - window

local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)
if #old > 0 then
  local freed = 0
  for i = 1, #old, 500 do
    local chunk = {unpack(old, i, math.min(i + 499, #old))}
    local got = redis.call('HMGET', KEYS[2], unpack(chunk))
    for j = 1, #chunk do
      if got[j] then freed = freed + tonumber(got[j]) end
    end
    redis.call('HDEL', KEYS[2], unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  redis.call('DECRBY', KEYS[3], freed)
end

local count = redis.call('ZCARD', KEYS[1])
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
local exceeded, retry = 0, 0
if rpm >= 0 and count >= rpm then
  exceeded = 1
  local e = redis.call('ZRANGE', KEYS[1], count - rpm, count - rpm, 'WITHSCORES')
  retry = tonumber(e[2]) + window - now
elseif tpm >= 0 and tokens > tpm then
  exceeded = 3
elseif tpm >= 0 and used + tokens > tpm then
  exceeded, retry = 2, window
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local remaining = used
  for i = 1, #entries, 2 do
    local amount = redis.call('HGET', KEYS[2], entries[i])
    if amount then remaining = remaining - tonumber(amount) end
    if remaining + tokens <= tpm then
      retry = tonumber(entries[i + 1]) + window - now
      break
    end
  end
end
if exceeded > 0 then
  local reset = 0
  if count > 0 then
    local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    reset = tonumber(last[2]) + window - now
  end
  return {0, count, used, reset, retry, exceeded}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('HSET', KEYS[2], ARGV[5], tokens)
redis.call('INCRBY', KEYS[3], tokens)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], window) end
return {1, count + 1, used + tokens, window, 0, 0}
"""

# KEYS: as above; ARGV: member, actual tokens, window_ms
_SETTLE = """
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[3], tonumber(ARGV[2]) - tonumber(cur))
if redis.call('PTTL', KEYS[3]) < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
return 1
"""


class RedisLimiter:
    """Limits shared by every process that uses the same Redis and key prefix."""

    def __init__(self, redis: Redis, prefix: str, window_s: float = WINDOW_S) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window_ms = int(window_s * 1000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._settle = redis.register_script(_SETTLE)
        self._fallback = MemoryLimiter(window_s)
        self._warned_at = float("-inf")

    @classmethod
    def from_url(cls, url: str, prefix: str, window_s: float = WINDOW_S) -> RedisLimiter:
        return cls(Redis.from_url(url, socket_timeout=2.0), prefix, window_s)

    def _keys(self, key_id: str) -> list[str]:
        base = f"{self._prefix}rl:{{{key_id}}}:"
        return [base + "log", base + "tok", base + "sum"]

    async def acquire(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str = ""
    ) -> Decision:
        member = member or secrets.token_hex(8)  # names the reservation in the sorted set
        args = [-1 if rpm is None else rpm, -1 if tpm is None else tpm, tokens]
        try:
            raw = await self._acquire(
                keys=self._keys(key_id), args=[*args, self._window_ms, member]
            )
        except RedisError as exc:
            self._warn(exc)
            return self._fallback.acquire_now(key_id, rpm, tpm, tokens, member)
        allowed, count, used, reset_ms, retry_ms, exceeded = (int(v) for v in raw)
        ticket = Ticket(key_id, member, tokens) if allowed else None
        return Decision(
            allowed=bool(allowed),
            rpm=rpm,
            tpm=tpm,
            requests_used=count,
            tokens_used=used,
            reset_s=reset_ms / 1000,
            retry_after_s=retry_ms / 1000,
            exceeded=_EXCEEDED[exceeded],
            ticket=ticket,
        )

    async def settle(self, ticket: Ticket, actual_tokens: int) -> None:
        if ticket.handle is not None:  # admitted by the fallback while Redis was away
            await self._fallback.settle(ticket, actual_tokens)
            return
        try:
            await self._settle(
                keys=self._keys(ticket.key_id),
                args=[ticket.member, actual_tokens, self._window_ms],
            )
        except RedisError as exc:
            self._warn(exc)

    async def ping(self) -> None:
        """Raises RedisError when Redis is unreachable (used at start-up)."""
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "Redis unavailable for rate limits (%s); limiting per process until it is back",
                type(exc).__name__,
            )
