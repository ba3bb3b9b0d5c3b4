"""The Anthropic Messages API: parser, renderers (whole and streamed), errors, surfaces."""

from visiongate.api.messages.parse import parse_messages_request
from visiongate.api.messages.render import error_body, render_message
from visiongate.api.messages.stream import MessagesStream
from visiongate.api.messages.surface import (
    COUNT_TOKENS_PATHS,
    MESSAGES_PATHS,
    CountTokensEndpoint,
    CountTokensSurface,
    MessagesSurface,
)

__all__ = [
    "COUNT_TOKENS_PATHS",
    "MESSAGES_PATHS",
    "CountTokensEndpoint",
    "CountTokensSurface",
    "MessagesStream",
    "MessagesSurface",
    "error_body",
    "parse_messages_request",
    "render_message",
]
