"""The request checks of the fake OpenAI-compatible upstream (``openai_upstream.py``).

What the real Chat Completions API refuses, it refuses too, with OpenAI's wording where
it is known: unknown fields, roles, ``image_url`` parts outside user messages, image URLs
that are neither http(s) nor base64 ``data:`` URLs, base64 that does not decode or whose
bytes are not the declared image type, and the size and count limits of the host.
"""

from __future__ import annotations

import binascii
import re
from typing import TYPE_CHECKING, Any

import pybase64

from tests.fakes.common import sniff

if TYPE_CHECKING:
    from tests.fakes.openai_upstream import FakeOpenAI

__all__ = ["Refused", "RequestChecker", "sniff_image"]

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<b64>.*)$", re.S)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "n",
        "seed",
        "stream",
        "stream_options",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "presence_penalty",
        "frequency_penalty",
    }
)


_OPENAI_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def sniff_image(data: bytes) -> str | None:
    """The media type the magic bytes say, for the formats OpenAI accepts."""
    sniffed = sniff(data)
    return sniffed if sniffed in _OPENAI_TYPES else None


class Refused(Exception):
    """A request the real API would refuse: answered with OpenAI's error body."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


class RequestChecker:
    """The request checks, as the real API applies them (with its wording where known)."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.images = 0
        self.image_bytes = 0

    def body(self, body: dict[str, Any]) -> None:
        for key in body:
            if key not in _KNOWN_FIELDS:
                raise Refused(400, f"Unrecognized request argument supplied: {key}", key)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Refused(400, "you must provide a model parameter", "model")
        if self.fake.models is not None and model not in self.fake.models:
            raise Refused(404, f"The model `{model}` does not exist", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Refused(400, "messages must be a non-empty array", "messages")
        for i, message in enumerate(messages):
            self.message(message, f"messages[{i}]")
        if self.fake.max_images is not None and self.images > self.fake.max_images:
            raise Refused(400, f"At most {self.fake.max_images} image(s) may be provided")
        if self.image_bytes > self.fake.max_request_image_bytes:
            raise Refused(400, "Total image size exceeds the limit", "messages")
        self.sampling(body)

    def message(self, message: Any, where: str) -> None:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise Refused(400, f"Invalid value for 'role' at {where}", f"{where}.role")
        role = message["role"]
        if role == "developer" and not self.fake.accept_developer_role:
            raise Refused(400, "Unknown role: developer", f"{where}.role")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise Refused(400, "tool messages need tool_call_id", f"{where}.tool_call_id")
        if message.get("tool_calls") is not None:
            if role != "assistant":
                raise Refused(400, "only assistant messages carry tool_calls", where)
            self.tool_calls(message["tool_calls"], where)
        content = message.get("content")
        if content is None and role == "assistant" and message.get("tool_calls"):
            return
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            raise Refused(400, f"{where}.content must be a string or array", f"{where}.content")
        for j, part in enumerate(content):
            at = f"{where}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind == "file" and self.fake.accept_files and role == "user":
                self.file(part.get("file"), f"{at}.file")
                continue
            if kind != "image_url":
                raise Refused(400, f"Invalid content part at {at}", at)
            if role != "user":
                raise Refused(
                    400,
                    "Image URLs are only allowed for messages with role 'user', but this "
                    f"message with role '{role}' contains an image URL.",
                    at,
                )
            self.image(part.get("image_url"), f"{at}.image_url")

    def image(self, image: Any, at: str) -> None:
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise Refused(400, "image_url.url is required", f"{at}.url")
        if image.get("detail", "auto") not in ("auto", "low", "high"):
            raise Refused(400, "detail must be auto, low or high", f"{at}.detail")
        self.images += 1
        url = image["url"]
        if url.startswith(("http://", "https://")):
            return
        match = _DATA_URL.match(url)
        if match is None:
            raise Refused(400, "Invalid image URL: expected http(s) or base64 data", f"{at}.url")
        if not self.fake.check_images:
            return
        try:
            data = pybase64.b64decode(match["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "Invalid base64 image data", f"{at}.url") from None
        if len(data) > self.fake.max_image_bytes:
            raise Refused(400, "Image size exceeds the limit", f"{at}.url")
        sniffed = sniff_image(data)
        if sniffed != match["mime"]:
            raise Refused(
                400, f"The image is not a valid {match['mime']} (its bytes say {sniffed})", at
            )
        self.image_bytes += len(data)

    @staticmethod
    def file(spec: Any, at: str) -> None:
        """OpenAI's ``file`` part: a PDF as ``file_data`` with its ``filename``."""
        if not isinstance(spec, dict) or not isinstance(spec.get("file_data"), str):
            raise Refused(400, "file.file_data is required", f"{at}.file_data")
        if not isinstance(spec.get("filename"), str):
            raise Refused(400, "file.filename is required with file_data", f"{at}.filename")
        match = _DATA_URL.match(spec["file_data"])
        if match is None or match["mime"] != "application/pdf":
            raise Refused(400, "Invalid file data: expected a base64 PDF", f"{at}.file_data")
        try:
            data = pybase64.b64decode(match["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "Invalid base64 file data", f"{at}.file_data") from None
        if not data.startswith(b"%PDF-"):
            raise Refused(400, "Invalid file data: the file is not a PDF", f"{at}.file_data")

    @staticmethod
    def tool_calls(calls: Any, where: str) -> None:
        for call in calls if isinstance(calls, list) else [None]:
            function = call.get("function") if isinstance(call, dict) else None
            if not (
                isinstance(call, dict)
                and isinstance(call.get("id"), str)
                and isinstance(function, dict)
                and isinstance(function.get("name"), str)
                and isinstance(function.get("arguments"), str)
            ):
                raise Refused(400, f"Invalid tool_calls at {where}", f"{where}.tool_calls")

    def sampling(self, body: dict[str, Any]) -> None:
        low, high = self.fake.temperature_range
        temperature = body.get("temperature")
        if temperature is not None:
            open_low = low > 0  # MiniMax's (0, 1]
            if temperature > high or temperature < low or (open_low and temperature <= 0):
                raise Refused(400, f"temperature must be within [{low}, {high}]", "temperature")
        for key in ("max_tokens", "max_completion_tokens", "n"):
            if key in body and not (isinstance(body[key], int) and body[key] >= 1):
                raise Refused(400, f"{key} must be a positive integer", key)
        stop = body.get("stop")
        if stop is not None and not (
            isinstance(stop, str) or (isinstance(stop, list) and len(stop) <= 4)
        ):
            raise Refused(400, "stop must be a string or up to 4 strings", "stop")
        for tool in body.get("tools") or ():
            if tool.get("type") != "function" or "name" not in tool.get("function", {}):
                raise Refused(400, "tools must be functions with a name", "tools")
        if "stream_options" in body and not body.get("stream"):
            raise Refused(400, "stream_options is only allowed with stream", "stream_options")
