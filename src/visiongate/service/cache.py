"""The answer cache: a repeated request is answered without calling the provider.

Opt-in. A model's ``cache = { ttl_s = N }`` table turns it on for that model; a request
turns it on for itself with ``Cache-Control: max-age=N`` (entries kept N seconds). On a
model with a table, ``max-age=N`` only refuses entries older than N seconds (as in
HTTP; ``max-age=0`` is a fresh answer). ``no-cache`` forces a fresh answer (which then
replaces the entry), and ``no-store`` keeps the request out of the cache both ways.
Entries are per gateway key unless the model's table says ``shared``.

The key (``cache_key.py``) is what the provider receives: each image by the digest of
its bytes after fitting. An image the provider fetches itself by URL is fetched here
too, but only for a request that uses the cache, so that a URL and a data URL of the
same bytes meet in one entry (and a changed image behind the same URL misses).

Two identical requests at once call the provider once: the first leads, the others
wait (at most ``wait_s``) for its answer; if it fails or is not cacheable, they are let
go to call the provider themselves. This is per process; replicas share entries through
Redis, not flights.

A store that fails is a miss, logged (at most every ``_WARN_EVERY_S``) and counted on
the request's outcome; it never fails the request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import pybase64

from visiongate.core.cache_config import CacheConfig
from visiongate.core.messages import ChatRequest, ChatResponse, StreamDelta, Usage
from visiongate.service.cache_entry import CachedAnswer, decode, encode, finish_reasons
from visiongate.service.cache_key import answer_key
from visiongate.service.cache_store import CacheUnavailable, MemoryStore, RedisStore, Store

__all__ = ["AnswerCache", "CacheTicket", "Directives", "parse_cache_control"]

log = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0
_MAX_AGE_LIMIT = 366 * 24 * 3600  # a year and a day: beyond is a typo, not a TTL


@dataclass(frozen=True, slots=True)
class Directives:
    """What a request's ``Cache-Control`` header asks of the cache."""

    max_age: int | None = None
    no_cache: bool = False
    no_store: bool = False


_NONE = Directives()


def parse_cache_control(value: str | None) -> Directives:
    """The directives of a ``Cache-Control`` request header; unknown ones are ignored
    (as HTTP caches do), and so is a ``max-age`` that is not a number of seconds."""
    if not value:
        return _NONE
    max_age: int | None = None
    no_cache = no_store = False
    for item in value.split(","):
        name, _, arg = item.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "max-age":
            arg = arg.strip().strip('"')
            if arg.isdigit():
                max_age = min(int(arg), _MAX_AGE_LIMIT)
    return Directives(max_age, no_cache, no_store)


class CacheTicket:
    """One request's use of the cache, from lookup to store.

    ``status`` is what the ``x-visiongate-cache`` header says: ``hit``, ``miss`` or
    ``bypass``. A ticket that leads a flight must end with :meth:`store` or
    :meth:`release` (the service does it in a ``finally``).
    """

    __slots__ = (
        "_cache",
        "_flight",
        "_incomplete",
        "error",
        "key",
        "max_age",
        "read",
        "status",
        "ttl_s",
    )

    def __init__(
        self,
        cache: AnswerCache,
        key: str,
        ttl_s: int,
        max_age: int | None,
        read: bool,
        incomplete: bool,
    ) -> None:
        self._cache = cache
        self.key = key
        self.ttl_s = ttl_s
        self.max_age = max_age
        self.read = read
        self._incomplete = incomplete
        self._flight: asyncio.Future[bytes | None] | None = None
        self.status = "miss"
        self.error = False  # the store failed while this request used it

    async def lookup(self) -> CachedAnswer | None:
        """The cached answer, or None: then the caller calls the provider, and stores
        its answer (or releases the ticket). Waits for an identical request in flight."""
        if self.read:
            answer = self._fresh(await self._cache.get(self))
            if answer is not None:
                return self._hit(answer)
            flights = self._cache.flights
            flight = flights.get(self.key)
            if flight is None:
                self._flight = flights[self.key] = asyncio.get_running_loop().create_future()
                return None
            try:
                blob = await asyncio.wait_for(asyncio.shield(flight), self._cache.wait_s)
            except TimeoutError:
                return None
            answer = self._fresh(blob)
            if answer is not None:
                return self._hit(answer)
        return None

    def _fresh(self, blob: bytes | None) -> CachedAnswer | None:
        if blob is None:
            return None
        try:
            answer = decode(blob)
        except ValueError:
            log.warning("answer cache entry %s unreadable; answered as a miss", self.key[:12])
            return None
        if self.max_age is not None and time.time() - answer.created > self.max_age:
            return None
        return answer

    def _hit(self, answer: CachedAnswer) -> CachedAnswer:
        self.status = "hit"
        return answer

    async def store(
        self,
        usage: Usage,
        upstream_model: str | None,
        response: ChatResponse | None = None,
        deltas: list[StreamDelta] | None = None,
    ) -> None:
        """Keep a complete answer (a cut-short one only where the model's table asks)
        and hand it to the requests waiting for it. Never raises."""
        if not self.ttl_s and self._flight is None:
            return
        blob: bytes | None = None
        try:
            reasons = finish_reasons(response, deltas)
            if "" not in reasons and (self._incomplete or "length" not in reasons):
                blob = encode(usage, upstream_model, response, deltas)
                await self._cache.put(self, blob)
        finally:
            self.release(blob)

    def release(self, blob: bytes | None = None) -> None:
        """End this ticket's flight: its waiters get ``blob``, or (None) call themselves."""
        flight, self._flight = self._flight, None
        if flight is None:
            return
        if self._cache.flights.get(self.key) is flight:
            del self._cache.flights[self.key]
        if not flight.done():
            flight.set_result(blob)


class AnswerCache:
    """The process' answer cache: its store, its flights, and each request's ticket."""

    def __init__(self, store: Store, wait_s: float = 30.0) -> None:
        self.store = store
        self.wait_s = wait_s
        self.flights: dict[str, asyncio.Future[bytes | None]] = {}
        self._warned_at = float("-inf")

    @classmethod
    def build(
        cls, redis_url: str | None, prefix: str, memory_bytes: int, wait_s: float
    ) -> AnswerCache:
        """Redis when ``redis_url`` is set (shared by replicas), else this process' memory."""
        if redis_url:
            return cls(RedisStore.from_url(redis_url, prefix), wait_s)
        return cls(MemoryStore(memory_bytes), wait_s)

    async def close(self) -> None:
        for flight in self.flights.values():
            if not flight.done():
                flight.set_result(None)
        self.flights.clear()
        await self.store.close()

    async def ticket(
        self,
        request: ChatRequest,
        config: CacheConfig | None,
        name: str,
        upstream: str | None,
        key_id: str | None,
        directives: Directives,
        fetch: Callable[[str, str], Awaitable[bytes]],
    ) -> CacheTicket | None:
        """This request's ticket, or None when the cache is off for it (no header then).

        ``config`` is the cache table of ``name``, the route or model the client asked
        for (its entries are that name's); ``upstream`` the upstream model of a plain
        model's request (a retired one followed to its successor is another entry).
        ``fetch(url, param)`` gives the bytes of an image the provider would fetch
        itself (the image pipeline's fetcher and cache).
        """
        ttl = config.ttl_s if config is not None else directives.max_age or 0
        if not ttl and not directives.no_store:
            return None
        shared = config is not None and config.shared
        scope = "*" if shared else (key_id or "-")
        try:
            url_digests = await _url_digests(request, fetch)
            key = answer_key(request, name, scope, url_digests, upstream)
        except TypeError as exc:  # a part kind the key does not know yet
            log.warning("answer cache bypassed: %s", exc)
            key = ""
        incomplete = config is not None and config.cache_incomplete
        read = not directives.no_cache
        ticket = CacheTicket(self, key, ttl, directives.max_age, read, incomplete)
        if directives.no_store or not key:
            ticket.status = "bypass"
            ticket.read = False
            ticket.ttl_s = 0
        return ticket

    async def get(self, ticket: CacheTicket) -> bytes | None:
        try:
            return await self.store.get(ticket.key)
        except CacheUnavailable as exc:
            self._failed(ticket, exc)
            return None

    async def put(self, ticket: CacheTicket, blob: bytes) -> None:
        if not ticket.ttl_s:
            return
        try:
            await self.store.put(ticket.key, blob, ticket.ttl_s)
        except CacheUnavailable as exc:
            self._failed(ticket, exc)

    def _failed(self, ticket: CacheTicket, exc: CacheUnavailable) -> None:
        ticket.error = True
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("answer cache unavailable (%s); requests go to their providers", exc)


async def _url_digests(
    request: ChatRequest, fetch: Callable[[str, str], Awaitable[bytes]]
) -> Mapping[str, bytes]:
    """The digest of each image the provider fetches itself, by URL, fetched at once."""
    urls = {
        part.url: part.param
        for part in request.images
        if not part.has_bytes and isinstance(part.url, str)
    }
    if not urls:
        return {}
    contents = await asyncio.gather(
        *(fetch(url, param) for url, param in urls.items()), return_exceptions=True
    )
    digests: dict[str, bytes] = {}
    for url, data in zip(urls, contents, strict=True):
        if isinstance(data, bytes):
            digests[url] = hashlib.sha256(pybase64.b64encode(data)).digest()
        elif not isinstance(data, Exception):
            raise data
        # An image the gateway may not fetch (a private host, a failure) is keyed by
        # its URL: the provider fetches it, and the cache must not refuse the request.
    return digests
