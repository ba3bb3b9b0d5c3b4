"""Where cached answers live: this process' memory, or Redis shared by every replica.

Both hold opaque entry bytes (``cache_entry.encode``) under a hex key, each with its
own time to live. The memory store is an LRU within a byte budget whose entries expire
by their deadline when read; Redis enforces the TTL itself (``SET ... PX``), so an
entry is gone for every replica at once.

A store may fail (Redis away): :class:`RedisStore` raises :class:`CacheUnavailable`,
and the cache (``cache.py``) answers that as a miss. After a failure Redis is left alone
for ``retry_s``, so an outage costs each request nothing rather than a timeout.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

__all__ = ["CacheUnavailable", "MemoryStore", "RedisStore", "Store"]


class CacheUnavailable(Exception):
    """The store cannot be reached; the request goes on as a miss."""


class Store(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """An LRU of entries within ``max_bytes`` (keys and values counted), for one process.

    Used from one event loop only, so it needs no lock. An entry larger than a quarter
    of the budget is not kept: one long answer must not empty the cache.
    """

    def __init__(self, max_bytes: int, clock: object = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator]

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline <= self._now():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        cost = len(key) + len(value)
        if ttl_s <= 0 or cost > self.max_bytes // 4:
            return
        self._drop(key)
        self._entries[key] = (value, self._now() + ttl_s)
        self._size += cost
        while self._size > self.max_bytes:
            old_key, (old, _) = self._entries.popitem(last=False)
            self._size -= len(old_key) + len(old)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= len(key) + len(entry[0])

    async def close(self) -> None:
        self._entries.clear()
        self._size = 0


class RedisStore:
    """Entries in Redis under ``<prefix>ac:<key>``, shared by every process using it."""

    def __init__(self, redis: object, prefix: str, retry_s: float = 2.0) -> None:
        from redis.exceptions import RedisError  # imported here: only when Redis is used

        self._redis = redis
        self._prefix = prefix + "ac:"
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._retry_s = retry_s
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisStore:
        from redis.asyncio import Redis

        # Short timeouts: a cache that is slow to answer is worth less than a miss.
        client = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5)
        return cls(client, prefix)

    async def get(self, key: str) -> bytes | None:
        self._check()
        try:
            return await self._redis.get(self._prefix + key)  # type: ignore[attr-defined,no-any-return]
        except self._errors as exc:
            raise self._down(exc) from exc

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        self._check()
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))  # type: ignore[attr-defined]
        except self._errors as exc:
            raise self._down(exc) from exc

    def _check(self) -> None:
        if self._down_until and time.monotonic() < self._down_until:
            raise CacheUnavailable("Redis failed moments ago; not asked again yet")

    def _down(self, exc: BaseException) -> CacheUnavailable:
        self._down_until = time.monotonic() + self._retry_s
        return CacheUnavailable(f"Redis unavailable ({type(exc).__name__})")

    async def close(self) -> None:
        await self._redis.aclose()  # type: ignore[attr-defined]
