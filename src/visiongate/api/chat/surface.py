"""OpenAI Chat Completions as a surface: ``POST /v1/chat/completions``."""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.api.chat.parse import parse_chat_request
from visiongate.api.chat.render import ChunkRenderer, render_completion
from visiongate.api.cut import CHAT
from visiongate.api.surface import Credentials
from visiongate.core.messages import ChatRequest, ChatResponse
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError

__all__ = ["CHAT_PATHS", "ChatSurface"]

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})


class ChatSurface:
    """Bearer key, OpenAI's request and answer shapes, OpenAI's error envelope."""

    name = "chat.completions"
    cut = CHAT

    @staticmethod
    def credentials(headers: Credentials) -> str | None:
        return headers.authorization

    @staticmethod
    def parse(data: dict[str, Any]) -> ChatRequest:
        return parse_chat_request(data)

    @staticmethod
    def render(response: ChatResponse, request: ChatRequest, outcome: Outcome) -> bytes:
        return orjson.dumps(
            render_completion(
                response, f"chatcmpl-{outcome.request_id}", request.model, int(outcome.created)
            )
        )

    @staticmethod
    def stream(request: ChatRequest, outcome: Outcome) -> ChunkRenderer:
        return ChunkRenderer(
            f"chatcmpl-{outcome.request_id}",
            request.model,
            int(outcome.created),
            request.include_usage,
        )

    @staticmethod
    def error(exc: GatewayError) -> tuple[int, bytes]:
        return exc.status, orjson.dumps(exc.to_dict())
