"""Which surface answers which path: the one table the app dispatches POSTs by."""

from __future__ import annotations

from typing import TYPE_CHECKING

from visiongate.api.chat import CHAT_PATHS, ChatSurface
from visiongate.api.endpoint import Endpoint
from visiongate.api.messages import (
    COUNT_TOKENS_PATHS,
    MESSAGES_PATHS,
    CountTokensEndpoint,
    CountTokensSurface,
    MessagesSurface,
)
from visiongate.api.responses import RESPONSES_PATHS, ResponsesSurface

if TYPE_CHECKING:
    from visiongate.api.surface import Surface
    from visiongate.runtime import Runtime
    from visiongate.settings import Settings

__all__ = ["build_endpoints"]


def build_endpoints(runtime: Runtime, settings: Settings) -> dict[str, Endpoint]:
    """Path → endpoint for every surface; the endpoints share request ids and counters."""

    def endpoint(
        surface: Surface, shared: Endpoint | None, kind: type[Endpoint] = Endpoint
    ) -> Endpoint:
        return kind(
            surface,
            runtime.service,
            runtime.accounts,
            runtime.metrics,
            settings.max_body_bytes,
            shared,
        )

    chat = endpoint(ChatSurface(), None)
    routes: dict[str, Endpoint] = dict.fromkeys(CHAT_PATHS, chat)
    routes.update(dict.fromkeys(RESPONSES_PATHS, endpoint(ResponsesSurface(), chat)))
    messages = MessagesSurface(settings.stream_ping_seconds)
    routes.update(dict.fromkeys(MESSAGES_PATHS, endpoint(messages, chat)))
    counting = endpoint(CountTokensSurface(), chat, CountTokensEndpoint)
    routes.update(dict.fromkeys(COUNT_TOKENS_PATHS, counting))
    return routes
