"""The OpenAI Responses API as a surface: ``POST /v1/responses``, stateless."""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.api.cut import Cut, cut_data_urls
from visiongate.api.responses.parse import image_places, parse_responses_request
from visiongate.api.responses.render import render_response
from visiongate.api.responses.stream import ResponsesStream
from visiongate.api.surface import Credentials
from visiongate.core.messages import ChatRequest, ChatResponse
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError

__all__ = ["RESPONSES_PATHS", "ResponsesSurface"]

RESPONSES_PATHS = frozenset({"/v1/responses", "/responses"})


class ResponsesSurface:
    """Bearer key, Responses request and ``response`` shapes, OpenAI's error envelope."""

    name = "responses"
    cut = Cut(cut_data_urls, image_places)

    @staticmethod
    def credentials(headers: Credentials) -> str | None:
        return headers.authorization

    @staticmethod
    def parse(data: dict[str, Any]) -> ChatRequest:
        return parse_responses_request(data)

    @staticmethod
    def render(response: ChatResponse, request: ChatRequest, outcome: Outcome) -> bytes:
        return orjson.dumps(render_response(response, request, outcome))

    @staticmethod
    def stream(request: ChatRequest, outcome: Outcome) -> ResponsesStream:
        return ResponsesStream(request, outcome)

    @staticmethod
    def error(exc: GatewayError) -> tuple[int, bytes]:
        return exc.status, orjson.dumps(exc.to_dict())
