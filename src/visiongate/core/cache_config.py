"""The answer cache's table, the same in a ``[models."id"]`` and a ``[routes."name"]``
table: ``cache = { ttl_s = 3600, shared = false, cache_incomplete = false }``.

Its own module because both the catalog and the routes read it (and the catalog imports
the routes). What the cache does with it lives in ``service/cache.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["CacheConfig", "cache_config"]


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """A model's answer cache (``cache = { ttl_s = 3600 }``; ``service/cache.py``).

    ``shared`` lets every gateway key read the entries of the others (by default each
    key has its own); ``cache_incomplete`` keeps answers cut short by the token limit
    (``finish_reason = "length"``), which are otherwise answered but never stored.
    """

    ttl_s: int
    shared: bool = False
    cache_incomplete: bool = False


_CACHE_FIELDS = {f.name for f in fields(CacheConfig)}


def cache_config(raw: Any, where: str) -> CacheConfig | None:
    """A ``cache`` table as a :class:`CacheConfig`; ``ttl_s = 0`` (or an empty table from
    a config that clears a shipped one) turns the cache off. Raises ValueError naming
    ``where`` for unknown keys or values of the wrong type."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: cache must be a table, such as {{ ttl_s = 3600 }}")
    unknown = set(raw) - _CACHE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown cache keys {sorted(unknown)}")
    ttl = raw.get("ttl_s", 0)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise ValueError(f"{where}: cache.ttl_s must be a whole number of seconds, 0 or more")
    for flag in ("shared", "cache_incomplete"):
        if not isinstance(raw.get(flag, False), bool):
            raise ValueError(f"{where}: cache.{flag} must be true or false")
    if not ttl:
        return None
    return CacheConfig(
        ttl_s=ttl,
        shared=raw.get("shared", False),
        cache_incomplete=raw.get("cache_incomplete", False),
    )
