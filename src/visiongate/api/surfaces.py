"""Which surface answers which path: the one table the app dispatches POSTs by."""

from __future__ import annotations

from typing import TYPE_CHECKING

from visiongate.api.chat import CHAT_PATHS, ChatSurface
from visiongate.api.endpoint import Endpoint

if TYPE_CHECKING:
    from visiongate.runtime import Runtime
    from visiongate.settings import Settings

__all__ = ["build_endpoints"]


def build_endpoints(runtime: Runtime, settings: Settings) -> dict[str, Endpoint]:
    """Path → endpoint for every surface; the endpoints share request ids and counters."""
    chat = Endpoint(
        ChatSurface(), runtime.service, runtime.accounts, runtime.metrics, settings.max_body_bytes
    )
    routes: dict[str, Endpoint] = dict.fromkeys(CHAT_PATHS, chat)
    return routes
