"""Which surface answers which path: the one table the app dispatches POSTs by."""

from __future__ import annotations

from typing import TYPE_CHECKING

from visiongate.api.chat import CHAT_PATHS, ChatSurface
from visiongate.api.endpoint import Endpoint
from visiongate.api.responses import RESPONSES_PATHS, ResponsesSurface

if TYPE_CHECKING:
    from visiongate.api.surface import Surface
    from visiongate.runtime import Runtime
    from visiongate.settings import Settings

__all__ = ["build_endpoints"]


def build_endpoints(runtime: Runtime, settings: Settings) -> dict[str, Endpoint]:
    """Path → endpoint for every surface; the endpoints share request ids and counters."""

    def endpoint(surface: Surface, shared: Endpoint | None) -> Endpoint:
        return Endpoint(
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
    return routes
