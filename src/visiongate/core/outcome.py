"""What one request did, gathered as it runs and turned into a usage record and metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from visiongate.core.messages import Usage

__all__ = ["Outcome"]


@dataclass(slots=True)
class Outcome:
    request_id: str
    endpoint: str = "chat.completions"  # the surface the request came in by
    started: float = field(default_factory=time.perf_counter)
    created: float = field(default_factory=time.time)
    key_id: str | None = None
    model: str = ""
    provider: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status: int = 200
    error_code: str | None = None
    usage: Usage | None = None
    images: int = 0
    image_bytes: int = 0
    image_tokens: int = 0
    image_seconds: float = 0.0
    fetched_bytes: int = 0
    cache_hits: int = 0
    documents: int = 0
    document_pages: int = 0
    document_bytes: int = 0
    upstream_seconds: float = 0.0
    first_token_at: float | None = None
    cost_usd: float = 0.0
    # Routing (service/routing.py): the catalog model that served (or failed last), the
    # upstream calls made, the fallback that served, and — only when a call failed or a
    # deployment cooled — one entry per failed call and the deployments that cooled.
    deployment: str | None = None
    attempts: int = 0
    fallback: str | None = None
    failures: list[dict[str, Any]] | None = None
    cooled: list[str] | None = None
    cache: str | None = None  # the answer cache: hit, miss, bypass; None when not used
    cache_error: bool = False  # the answer cache's store failed (the request went on)
    saved_usd: float = 0.0  # a hit's cost at the catalog's prices, had it been a miss

    @property
    def latency_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def ttft_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.started) * 1000.0
