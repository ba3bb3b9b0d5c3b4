"""The Anthropic Messages API as a surface: ``POST /v1/messages`` and
``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from visiongate.api.cut import Cut, cut_key_values
from visiongate.api.endpoint import Endpoint, Receive, Send
from visiongate.api.messages.parse import image_places, parse_messages_request
from visiongate.api.messages.render import error_body, render_message
from visiongate.api.messages.stream import MessagesStream
from visiongate.api.surface import Credentials
from visiongate.core.messages import ChatRequest, ChatResponse
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError

if TYPE_CHECKING:
    from visiongate.accounting import Principal

__all__ = [
    "COUNT_TOKENS_PATHS",
    "MESSAGES_PATHS",
    "CountTokensEndpoint",
    "CountTokensSurface",
    "MessagesSurface",
]

MESSAGES_PATHS = frozenset({"/v1/messages", "/messages"})
COUNT_TOKENS_PATHS = frozenset({"/v1/messages/count_tokens", "/messages/count_tokens"})


class MessagesSurface:
    """The key in ``x-api-key`` (Anthropic's SDKs) or ``Authorization: Bearer``;
    ``anthropic-version`` and ``anthropic-beta`` are accepted as they come. Errors in
    Anthropic's envelope and status/type pairs, so its SDKs raise their usual classes."""

    name = "messages"
    cut = Cut(cut_key_values, image_places)

    def __init__(self, ping_interval: float | None = None) -> None:
        self.ping_interval = ping_interval or None

    @staticmethod
    def credentials(headers: Credentials) -> str | None:
        if headers.x_api_key:
            return f"Bearer {headers.x_api_key}"
        return headers.authorization

    @staticmethod
    def parse(data: dict[str, Any]) -> ChatRequest:
        return parse_messages_request(data)

    @staticmethod
    def render(response: ChatResponse, request: ChatRequest, outcome: Outcome) -> bytes:
        return render_message(response, request, outcome)

    def stream(self, request: ChatRequest, outcome: Outcome) -> MessagesStream:
        return MessagesStream(request, outcome, self.ping_interval)

    @staticmethod
    def error(exc: GatewayError) -> tuple[int, bytes]:
        return error_body(exc)


class CountTokensSurface(MessagesSurface):
    name = "messages.count_tokens"

    @staticmethod
    def parse(data: dict[str, Any]) -> ChatRequest:
        return parse_messages_request(data, counting=True)


class CountTokensEndpoint(Endpoint):
    """``count_tokens``: the estimate the rate limiter uses for the same request, images
    included (they are fetched and fitted for the model, as a real request would be),
    without calling the provider or spending the key's limits."""

    async def serve(
        self,
        request: ChatRequest,
        principal: Principal,
        receive: Receive,
        send: Send,
        outcome: Outcome,
        cache_control: str | None = None,  # counting calls no provider: nothing to cache
    ) -> None:
        tokens = await self.service.count_tokens(request, principal, outcome)
        body = orjson.dumps({"input_tokens": tokens})
        await self.send_json(send, 200, body, [(b"x-request-id", outcome.request_id.encode())])
