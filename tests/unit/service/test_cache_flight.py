"""Single flight: identical requests at once wait for the first; its failure, or a wait
past the bound, lets them go; a failing store is a miss."""

from __future__ import annotations

import asyncio

from visiongate.core.catalog import CacheConfig, load_catalog
from visiongate.core.messages import ChatRequest, ChatResponse, Choice, Message, TextPart, Usage
from visiongate.service.cache import AnswerCache, Directives
from visiongate.service.cache_store import CacheUnavailable, MemoryStore

MODEL = load_catalog({"models": {"gpt-4o": {"cache": {"ttl_s": 60}}}}, environ={}).models["gpt-4o"]
ANSWER = ChatResponse(choices=[Choice(content="A cat.")])
USAGE = Usage(prompt_tokens=10, completion_tokens=3)


async def no_fetch(url: str, param: str) -> bytes:
    raise AssertionError("nothing to fetch")


PLAIN = Directives()


async def ticket(cache: AnswerCache, text: str = "hi", directives: Directives = PLAIN):  # type: ignore[no-untyped-def]
    request = ChatRequest(model="gpt-4o", messages=[Message("user", [TextPart(text)])])
    made = await cache.ticket(request, MODEL.cache, MODEL.id, None, "key1", directives, no_fetch)
    assert made is not None
    return made


def test_the_model_table_is_read() -> None:
    assert MODEL.cache == CacheConfig(ttl_s=60)


async def test_waiters_get_the_first_answer() -> None:
    cache = AnswerCache(MemoryStore(1 << 20), wait_s=5)
    first = await ticket(cache)
    assert await first.lookup() is None  # leads
    waiters = [await ticket(cache) for _ in range(3)]
    pending = [asyncio.ensure_future(t.lookup()) for t in waiters]
    await asyncio.sleep(0.01)
    assert not any(p.done() for p in pending)
    await first.store(USAGE, None, response=ANSWER)
    answers = await asyncio.gather(*pending)
    assert [a.as_response().choices[0].content for a in answers] == ["A cat."] * 3
    assert [t.status for t in waiters] == ["hit"] * 3
    assert cache.flights == {}


async def test_a_failed_first_releases_the_waiters_to_call_themselves() -> None:
    cache = AnswerCache(MemoryStore(1 << 20), wait_s=5)
    first = await ticket(cache)
    await first.lookup()
    waiter = await ticket(cache)
    pending = asyncio.ensure_future(waiter.lookup())
    await asyncio.sleep(0.01)
    first.release()
    assert await pending is None and waiter.status == "miss"


async def test_a_wait_is_bounded() -> None:
    cache = AnswerCache(MemoryStore(1 << 20), wait_s=0.05)
    first = await ticket(cache)
    await first.lookup()
    waiter = await ticket(cache)
    assert await asyncio.wait_for(waiter.lookup(), 2) is None
    first.release()


async def test_no_cache_neither_reads_nor_waits_but_writes() -> None:
    cache = AnswerCache(MemoryStore(1 << 20), wait_s=5)
    first = await ticket(cache)
    await first.store(USAGE, None, response=ANSWER)
    fresh = await ticket(cache, directives=Directives(no_cache=True))
    assert await fresh.lookup() is None and fresh.status == "miss"
    await fresh.store(USAGE, None, response=ChatResponse(choices=[Choice(content="A dog.")]))
    again = await ticket(cache)
    hit = await again.lookup()
    assert hit is not None and hit.as_response().choices[0].content == "A dog."


async def test_a_cut_short_answer_is_not_kept_but_still_released() -> None:
    cache = AnswerCache(MemoryStore(1 << 20), wait_s=5)
    first = await ticket(cache)
    await first.lookup()
    await first.store(USAGE, None, response=ChatResponse(choices=[Choice(finish_reason="length")]))
    assert cache.flights == {}
    assert await (await ticket(cache)).lookup() is None


class BrokenStore:
    async def get(self, key: str) -> bytes | None:
        raise CacheUnavailable("down")

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        raise CacheUnavailable("down")

    async def close(self) -> None:
        pass


async def test_a_store_that_fails_is_a_miss_flagged_as_an_error() -> None:
    cache = AnswerCache(BrokenStore(), wait_s=5)
    first = await ticket(cache)
    assert await first.lookup() is None
    assert first.status == "miss" and first.error
    await first.store(USAGE, None, response=ANSWER)  # does not raise
    assert cache.flights == {}


async def test_no_ticket_without_a_table_or_a_max_age() -> None:
    cache = AnswerCache(MemoryStore(1 << 20))
    plain = load_catalog(environ={}).models["gpt-4o"]
    request = ChatRequest(model="gpt-4o", messages=[Message("user", [TextPart("x")])])
    args = (request, plain.cache, plain.id, None, "k")
    assert await cache.ticket(*args, Directives(), no_fetch) is None
    assert await cache.ticket(*args, Directives(no_cache=True), no_fetch) is None
    opted = await cache.ticket(*args, Directives(max_age=30), no_fetch)
    assert opted is not None and opted.ttl_s == 30
    skipped = await cache.ticket(*args, Directives(no_store=True), no_fetch)
    assert skipped is not None and skipped.status == "bypass"
