"""The OpenAI Responses API: parser, renderers (whole and streamed) and the surface."""

from visiongate.api.responses.parse import parse_responses_request
from visiongate.api.responses.render import render_response
from visiongate.api.responses.stream import ResponsesStream
from visiongate.api.responses.surface import RESPONSES_PATHS, ResponsesSurface

__all__ = [
    "RESPONSES_PATHS",
    "ResponsesStream",
    "ResponsesSurface",
    "parse_responses_request",
    "render_response",
]
