"""Bearer-key authentication with a short-lived in-memory cache.

Every request authenticates, so a cached key must cost a hash and a dict lookup, not a
database round trip. Verified (and refused) keys are cached for ``ttl`` seconds; after
that the next request re-reads the row, which is how a revocation made by any process
(CLI, admin API, another replica) reaches this one within about ``ttl``. Concurrent
misses for the same key share one query. When the database is briefly unreachable a
stale entry keeps serving rather than failing every request. Refused tokens are cached
apart from valid keys and bounded on their own: invalid tokens never evict a valid key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from visiongate.accounting.keys import Principal, hash_key, parse_bearer, static_key_id
from visiongate.accounting.keystore import KeyRecord
from visiongate.errors import AuthenticationError, Overloaded

__all__ = ["ANONYMOUS", "Authenticator", "KeyLookup"]

log = logging.getLogger(__name__)

ANONYMOUS = Principal(key_id="anonymous", name="anonymous")
KeyLookup = Callable[[str], Awaitable[KeyRecord | None]]

_HOW_TO_SEND = (
    "Send your API key in the HTTP header 'Authorization: Bearer <key>', or 'x-api-key' "
    "on the Messages API (the OpenAI and Anthropic SDKs do this with api_key=...)."
)
_INCORRECT = "Incorrect API key provided. " + _HOW_TO_SEND
_REVOKED = "This API key has been revoked. Ask the gateway's operator for a new key."
_EXPIRED = "This API key has expired. Ask the gateway's operator for a new key."
# Keys the gateway knows are few (one row each); tokens it refuses are whatever a client
# sends. The two are cached apart, each dropping its oldest entry when full, so a spray of
# random tokens only ever pushes out other refused tokens, never a valid key.
_MAX_VALID = 50_000
_MAX_REFUSED = 10_000


@dataclass(slots=True)
class _Entry:
    principal: Principal | None  # None: the key is refused (see ``refusal``)
    refusal: str
    expires_at: float | None  # the key's own expiry, epoch seconds
    checked: float  # monotonic time of the lookup


class Authenticator:
    """Maps ``Authorization`` header values to principals."""

    def __init__(
        self,
        static_keys: Iterable[str],
        lookup: KeyLookup | None,
        *,
        required: bool = True,
        ttl: float = 1.0,
    ) -> None:
        self._static = {
            hash_key(key): Principal(key_id=static_key_id(key), name=static_key_id(key))
            for key in static_keys
        }
        self._lookup = lookup
        self._required = required
        self._ttl = ttl
        self._cache: dict[str, _Entry] = {}  # valid keys (a principal)
        self._refused: dict[str, _Entry] = {}  # unknown and revoked tokens
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}
        self._spent: dict[str, float] = {}

    def set_lookup(self, lookup: KeyLookup | None) -> None:
        self._lookup = lookup

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal for a header value. Raises AuthenticationError (401)."""
        token = parse_bearer(authorization)
        if token is None:
            if not self._required:
                return ANONYMOUS
            if authorization:
                raise AuthenticationError("Malformed Authorization header. " + _HOW_TO_SEND)
            raise AuthenticationError("You didn't provide an API key. " + _HOW_TO_SEND)
        digest = hash_key(token)
        static = self._static.get(digest)
        if static is not None:
            return static
        entry = self._cache.get(digest) or self._refused.get(digest)
        if entry is None or time.monotonic() - entry.checked >= self._ttl:
            entry = await self._refresh(digest, entry)
        if entry.principal is not None and (
            entry.expires_at is None or entry.expires_at > time.time()
        ):
            return entry.principal
        if not self._required:
            return ANONYMOUS
        refusal = entry.refusal if entry.principal is None else _EXPIRED
        raise AuthenticationError(refusal)

    def spent_usd(self, key_id: str) -> float:
        """The spend last read from the database for a key seen here (0 when unknown)."""
        return self._spent.get(key_id, 0.0)

    async def _refresh(self, digest: str, stale: _Entry | None) -> _Entry:
        # The lookup runs as its own task: a caller that is cancelled (client gone) does not
        # cancel the lookup that other requests for the same key are waiting on.
        task = self._inflight.get(digest)
        if task is None:
            task = asyncio.create_task(self._load(digest, stale))
            self._inflight[digest] = task
            task.add_done_callback(lambda _: self._inflight.pop(digest, None))
        return await asyncio.shield(task)

    async def _load(self, digest: str, stale: _Entry | None) -> _Entry:
        if self._lookup is None:
            return _Entry(None, _INCORRECT, None, time.monotonic())
        try:
            record = await self._lookup(digest)
        except Exception as exc:
            if stale is not None:
                log.warning("key lookup failed (%s); serving the cached entry", type(exc).__name__)
                stale.checked = time.monotonic()
                return stale
            log.error("key lookup failed: %s", type(exc).__name__)
            raise Overloaded(
                "The gateway cannot verify API keys right now (accounts database unavailable). "
                "Retry shortly.",
                code="accounts_unavailable",
                headers={"retry-after": "1"},
            ) from exc
        entry = _entry_for(record)
        if entry.principal is None:
            self._cache.pop(digest, None)  # revoked since it was cached
            _store(self._refused, digest, entry, _MAX_REFUSED)
        else:
            self._refused.pop(digest, None)
            evicted = _store(self._cache, digest, entry, _MAX_VALID)
            if evicted is not None and evicted.principal is not None:
                self._spent.pop(evicted.principal.key_id, None)
        if record is not None:
            self._spent[record.id] = record.spent_usd
        return entry


def _store(cache: dict[str, _Entry], digest: str, entry: _Entry, limit: int) -> _Entry | None:
    """Put ``entry`` in ``cache``, dropping the oldest entry when it is full; returns it."""
    evicted = None
    cache.pop(digest, None)  # re-inserted: the newest again
    if len(cache) >= limit:
        oldest = next(iter(cache))
        evicted = cache.pop(oldest)
    cache[digest] = entry
    return evicted


def _entry_for(record: KeyRecord | None) -> _Entry:
    now = time.monotonic()
    if record is None:
        return _Entry(None, _INCORRECT, None, now)
    if record.revoked_at is not None:
        return _Entry(None, _REVOKED, None, now)
    return _Entry(record.principal(), "", record.expires_at, now)
