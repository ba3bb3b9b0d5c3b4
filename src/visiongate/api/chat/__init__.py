"""OpenAI Chat Completions: the parser, the renderer and the surface that joins them."""

from visiongate.api.chat.parse import parse_chat_request
from visiongate.api.chat.render import ChunkRenderer, render_completion, render_usage
from visiongate.api.chat.surface import CHAT_PATHS, ChatSurface

__all__ = [
    "CHAT_PATHS",
    "ChatSurface",
    "ChunkRenderer",
    "parse_chat_request",
    "render_completion",
    "render_usage",
]
