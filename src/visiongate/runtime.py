"""Everything a running gateway holds, built from settings and opened/closed as one.

Built by the app's lifespan (and by ``visiongate ask``, which runs the same pipeline in
process). Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import logging

from visiongate.accounting import Accounts
from visiongate.core.catalog import Catalog, load_catalog, merge_tables
from visiongate.documents import DocumentPipeline
from visiongate.images import ImagePipeline
from visiongate.local.registry import local_model_overrides
from visiongate.observability.metrics import Metrics
from visiongate.providers.base import Provider
from visiongate.providers.registry import build_providers
from visiongate.service import AnswerCache, ChatService
from visiongate.service.cooldowns import Cooldowns, MemoryCooldowns
from visiongate.service.load import Load, MemoryLoad
from visiongate.settings import Settings

__all__ = ["Runtime", "build_catalog"]

log = logging.getLogger("visiongate")


def build_catalog(settings: Settings, environ: dict[str, str]) -> Catalog:
    overrides = merge_tables(settings.catalog_overrides, local_model_overrides(settings))
    if settings.routes:
        overrides = merge_tables(overrides, {"routes": settings.routes})
    return load_catalog(overrides, environ)


def _routing_state(settings: Settings) -> tuple[Cooldowns, Load]:
    """Cooldowns and load figures: shared through Redis when it is configured (every
    process and replica honours one cooldown), else this process' own."""
    if not settings.redis_url:
        return MemoryCooldowns(), MemoryLoad()
    # Imported here: the redis client costs memory and start-up time when unused.
    from visiongate.service.redis_state import RedisCooldowns, RedisLoad, open_redis

    redis = open_redis(settings.redis_url)
    return RedisCooldowns(redis, settings.redis_prefix), RedisLoad(redis, settings.redis_prefix)


class Runtime:
    def __init__(self, settings: Settings, environ: dict[str, str]) -> None:
        self.settings = settings
        self.catalog = build_catalog(settings, environ)
        self.providers: dict[str, Provider] = build_providers(self.catalog, settings)
        for name, provider in self.providers.items():
            provider.serve([m for m in self.catalog.models.values() if m.provider == name])
        self.images = ImagePipeline(settings)
        self.documents = DocumentPipeline(settings, self.images)
        self.accounts = Accounts(settings)
        self.metrics = Metrics()
        cooldowns, load = _routing_state(settings)
        self.cache = AnswerCache.build(
            settings.redis_url,
            settings.redis_prefix,
            settings.answer_cache_bytes,
            settings.answer_cache_wait_s,
        )
        self.service = ChatService(
            settings,
            self.catalog,
            self.providers,
            self.images,
            self.accounts,
            cooldowns,
            load,
            documents=self.documents,
            cache=self.cache,
        )
        self.metrics.track_deployments(cooldowns.states)

    async def start(self) -> None:
        await self.accounts.start()
        await self.images.start()
        await asyncio.gather(*(p.start() for p in self.providers.values()))
        configured = sorted(n for n, p in self.catalog.providers.items() if p.configured)
        log.info(
            "gateway ready", extra={"providers": configured, "models": len(self.catalog.models)}
        )

    async def close(self) -> None:
        for provider in self.providers.values():
            try:
                await provider.close()
            except Exception:  # closing must go on for the others
                log.exception("closing provider failed", extra={"provider": provider.name})
        await self.images.close()
        await self.service.router.load.close()
        await self.service.router.cooldowns.close()
        await self.cache.close()
        await self.accounts.close()
