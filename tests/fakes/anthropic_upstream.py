"""A fake Anthropic Messages API on loopback that checks requests as the real one would.

``AnthropicFake().app()`` is an aiohttp application serving ``POST /v1/messages``. Every
request is checked against the documented shape (:func:`check_messages_request`): key and
version headers, ``max_tokens``, roles alternating from ``user``, no ``system`` role in
``messages``, image blocks whose ``media_type`` matches the bytes' magic numbers, at most
5 MB of base64 and 8000 px a side (2000 px with more than 20 images). A request that
breaks a rule is recorded with its violations and answered 400 in Anthropic's error shape.

Answers follow the API's JSON and SSE formats. By default the reply describes what the
fake received (model and images), honours ``stop_sequences`` and ``max_tokens``, and
calls a tool when ``tool_choice`` forces one. Special behaviour is set on the object
(``failures``, ``delay``, ``chunk_delay``, ``missing_models`` ...) or per request by a
directive in the last user text:

``[[say:TEXT]]`` reply TEXT · ``[[stop:REASON]]`` force a stop_reason · ``[[tool:NAME]]``
call a tool · ``[[status:429]]`` answer that HTTP error (401/403 echo the key, as the
worst upstream would) · ``[[slow:SECONDS]]`` wait before answering · ``[[error:TYPE]]`` /
``[[error_after:N]]`` send an error event after N text deltas · ``[[break:N]]`` drop the
connection after N text deltas · ``[[cache]]`` report prompt-cache tokens.

``stream_errors = ["overloaded_error"]`` answers the next streamed requests, one each, with
HTTP 200 and that error as the very first event (how Anthropic reports an overload that
hits after it accepted the request), before normal service resumes.

Set ``record=False`` (benchmarks) to keep no history.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.common import (
    Received,
    approx_tokens,
    decode_b64,
    dimensions,
    directives,
    pause,
    sniff,
    sse_frame,
    words,
)

__all__ = ["AnthropicFake", "check_messages_request"]

MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_IMAGE_B64 = 5 * 1024 * 1024
MAX_EDGE = 8000
MANY_IMAGES = 20
MANY_IMAGES_EDGE = 2000
TOP_LEVEL = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "tools",
        "tool_choice",
    }
)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class ImageSeen:
    media_type: str
    width: int
    height: int
    size: int


@dataclass
class Plan:
    """What the fake will answer to one request."""

    model: str
    text: str
    tool: tuple[str, str, dict[str, Any]] | None
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    cache_read: int = 0
    cache_write: int = 0


@dataclass
class AnthropicFake:
    api_key: str = "sk-ant-fake-0123456789"
    record: bool = True
    reply: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    retry_after: str = "0"
    missing_models: set[str] = field(default_factory=set)
    # Statuses answered to the next requests, one each, before normal service resumes.
    failures: list[int] = field(default_factory=list)
    # Error types sent as the first event of the next streamed answers, one each.
    stream_errors: list[str] = field(default_factory=list)
    tool_input: dict[str, Any] | None = None
    requests: list[Received] = field(default_factory=list)
    disconnects: int = 0
    completed_streams: int = 0
    _ids: itertools.count = field(default_factory=itertools.count)

    @property
    def violations(self) -> list[str]:
        return [v for r in self.requests for v in r.violations]

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        return app

    # ---------------------------------------------------------------- handling

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        received = Received(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            None,
            len(raw),
        )
        if self.record:
            self.requests.append(received)
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "invalid x-api-key")
        try:
            received.body = body = json.loads(raw)
        except ValueError:
            received.violations.append("body is not JSON")
            return _error(400, "There was an error parsing the body as JSON")
        images: list[ImageSeen] = []
        received.violations = check_messages_request(request.headers, body, images)
        if received.violations:
            return _error(400, "; ".join(received.violations))
        wanted = directives(_last_user_text(body["messages"]))
        delay = float(wanted.get("slow") or self.delay)
        if delay:
            await pause(request, delay)
        status = int(wanted["status"]) if wanted.get("status") else None
        if status is None and self.failures:
            status = self.failures.pop(0)
        if status:
            headers = {"retry-after": self.retry_after} if status in (429, 529) else {}
            key = request.headers.get("x-api-key", "")
            return _error(status, _status_message(status, key), headers)
        if body["model"] in self.missing_models:
            return _error(404, f"model: {body['model']}")
        plan = self._plan(body, wanted, images)
        if body.get("stream"):
            return await self._stream(request, plan, wanted)
        return web.json_response(self._message(plan), headers={"request-id": "req_fake"})

    def _plan(self, body: dict[str, Any], wanted: dict[str, str], images: list[ImageSeen]) -> Plan:
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        tool_name: str | None = None
        if tools and choice.get("type") != "none":
            if "tool" in wanted:
                tool_name = wanted["tool"] or tools[0]["name"]
            elif choice.get("type") == "tool":
                tool_name = choice["name"]
            elif choice.get("type") == "any":
                tool_name = tools[0]["name"]
        text = wanted.get("say") or self.reply or _describe(body, images)
        if tool_name:
            text = wanted.get("say") or f"I will call {tool_name}."
        stop_reason, stop_sequence = "end_turn", None
        for seq in body.get("stop_sequences") or ():
            at = text.find(seq)
            if at >= 0:
                text, stop_reason, stop_sequence = text[:at], "stop_sequence", seq
                tool_name = None
                break
        pieces = words(text)
        if len(pieces) > body["max_tokens"]:
            text, stop_reason, tool_name = "".join(pieces[: body["max_tokens"]]), "max_tokens", None
        tool = None
        if tool_name:
            schema = next(t for t in tools if t["name"] == tool_name).get("input_schema") or {}
            arguments = self.tool_input if self.tool_input is not None else _sample(schema)
            tool = (f"toolu_fake_{next(self._ids):04d}", tool_name, arguments)
            stop_reason = "tool_use"
        if wanted.get("stop"):
            stop_reason = wanted["stop"]
        prompt = _text_tokens(body) + sum(max(1, i.width * i.height // 750) for i in images)
        output = len(words(text)) + (approx_tokens(json.dumps(tool[2])) if tool else 0)
        cached = "cache" in wanted
        return Plan(
            model=body["model"],
            text=text,
            tool=tool,
            stop_reason=stop_reason,
            stop_sequence=stop_sequence,
            input_tokens=prompt,
            output_tokens=max(output, 1),
            cache_read=100 if cached else 0,
            cache_write=20 if cached else 0,
        )

    def _usage(self, plan: Plan, output: int) -> dict[str, Any]:
        return {
            "input_tokens": plan.input_tokens,
            "cache_creation_input_tokens": plan.cache_write,
            "cache_read_input_tokens": plan.cache_read,
            "output_tokens": output,
        }

    def _message(self, plan: Plan) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if plan.text:
            content.append({"type": "text", "text": plan.text})
        if plan.tool:
            tool_id, name, arguments = plan.tool
            content.append({"type": "tool_use", "id": tool_id, "name": name, "input": arguments})
        return {
            "id": f"msg_fake_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": plan.model,
            "content": content,
            "stop_reason": plan.stop_reason,
            "stop_sequence": plan.stop_sequence,
            "usage": self._usage(plan, plan.output_tokens),
        }

    async def _stream(
        self, request: web.Request, plan: Plan, wanted: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await response.prepare(request)
        if self.stream_errors:
            kind = self.stream_errors.pop(0)
            await self._send(response, "error", _error_body(kind, _event_message(kind)))
            await response.write_eof()
            return response
        error_after = wanted.get("error_after") or ("1" if "error" in wanted else None)
        break_after = wanted.get("break")
        try:
            start = self._message(plan) | {
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
            }
            start["usage"] = self._usage(plan, 1)
            await self._send(response, "message_start", {"type": "message_start", "message": start})
            await self._send(response, "ping", {"type": "ping"})
            index = 0
            if plan.text:
                await self._send(
                    response, "content_block_start", _block_start(0, {"type": "text", "text": ""})
                )
                for n, piece in enumerate(words(plan.text)):
                    if error_after is not None and n == int(error_after):
                        kind = wanted.get("error") or "overloaded_error"
                        await self._send(response, "error", _error_body(kind, _event_message(kind)))
                        await response.write_eof()
                        return response
                    if break_after is not None and n == int(break_after or 1):
                        assert request.transport is not None
                        request.transport.close()
                        return response
                    delta = {"type": "text_delta", "text": piece}
                    await self._send(response, "content_block_delta", _block_delta(0, delta))
                await self._send(
                    response, "content_block_stop", {"type": "content_block_stop", "index": 0}
                )
                index = 1
            if plan.tool:
                await self._stream_tool(response, index, plan.tool)
            await self._send(
                response,
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence},
                    "usage": {"output_tokens": plan.output_tokens},
                },
            )
            await self._send(response, "message_stop", {"type": "message_stop"})
            # Counted before the end-of-stream write: the client may finish (and the test
            # look at the counter) before write_eof returns here.
            self.completed_streams += 1
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        return response

    async def _stream_tool(
        self, response: web.StreamResponse, index: int, tool: tuple[str, str, dict[str, Any]]
    ) -> None:
        tool_id, name, arguments = tool
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        await self._send(response, "content_block_start", _block_start(index, block))
        text = json.dumps(arguments)
        third = max(1, len(text) // 3)
        for piece in ["", text[:third], text[third : 2 * third], text[2 * third :]]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            await self._send(response, "content_block_delta", _block_delta(index, delta))
        await self._send(
            response, "content_block_stop", {"type": "content_block_stop", "index": index}
        )

    async def _send(self, response: web.StreamResponse, name: str, data: dict[str, Any]) -> None:
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay)
        await response.write(sse_frame(name, data))


# -------------------------------------------------------------------- request checks


def check_messages_request(
    headers: Any, body: Any, images: list[ImageSeen] | None = None
) -> list[str]:
    """Every way ``body`` breaks the Messages API's documented rules (empty when valid).

    ``images`` collects what each valid image block held, for the fake's reply.
    """
    problems: list[str] = []
    images = images if images is not None else []
    if not headers.get("anthropic-version"):
        problems.append("anthropic-version header missing")
    if not isinstance(body, dict):
        return [*problems, "body is not a JSON object"]
    extra = set(body) - TOP_LEVEL
    if extra:
        problems.append(f"{sorted(extra)}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        problems.append("max_tokens: field required (a positive integer)")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        problems.append("temperature: must be between 0 and 1")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        problems.append("stop_sequences: must be a list of strings")
    problems += _check_system(body.get("system"))
    problems += _check_tools(body.get("tools"), body.get("tool_choice"))
    if count_cache_breakpoints(body) > 4:
        problems.append("A maximum of 4 blocks with cache_control may be provided")
    top_k = body.get("top_k")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 0):
        problems.append("top_k: must be a non-negative integer")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages: at least one message is required"]
    problems += _check_turns(messages, images)
    many = len(images) > MANY_IMAGES
    for n, image in enumerate(images):
        edge = MANY_IMAGES_EDGE if many else MAX_EDGE
        if max(image.width, image.height) > edge:
            problems.append(
                f"image {n}: At least one of the image dimensions exceed max allowed size"
                f"{' for many-image requests' if many else ''}: {edge} pixels"
            )
    return problems


def _check_system(system: Any) -> list[str]:
    if system is None or isinstance(system, str):
        return []
    if isinstance(system, list) and all(
        isinstance(b, dict) and b.get("type") == "text" and b.get("text") for b in system
    ):
        return [p for n, b in enumerate(system) for p in _check_cache_control(f"system.{n}", b)]
    return ["system: must be a string or a list of non-empty text blocks"]


def _check_tools(tools: Any, choice: Any) -> list[str]:
    problems: list[str] = []
    for n, tool in enumerate(tools or ()):
        problems += _check_cache_control(f"tools.{n}", tool)
        if not isinstance(tool, dict) or not tool.get("name"):
            problems.append(f"tools.{n}.name: field required")
        elif not isinstance(tool.get("input_schema"), dict):
            problems.append(f"tools.{n}.input_schema: field required")
        elif tool["input_schema"].get("type") != "object":
            problems.append(f"tools.{n}.input_schema.type: must be 'object'")
    if choice is not None:
        if not tools:
            problems.append("tool_choice may only be specified while providing tools")
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            problems.append("tool_choice.type: must be auto, any, tool or none")
        if kind == "tool" and choice.get("name") not in {t.get("name") for t in tools or ()}:
            problems.append("tool_choice.name: names no tool")
    return problems


def _check_turns(messages: list[Any], images: list[ImageSeen]) -> list[str]:
    problems: list[str] = []
    tool_ids: set[str] = set()
    previous = None
    for n, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            problems.append(f"messages.{n}.role: 'system' is not a role; use the top-level system")
            continue
        if role not in ("user", "assistant"):
            problems.append(f"messages.{n}.role: must be 'user' or 'assistant'")
            continue
        if n == 0 and role != "user":
            problems.append("messages.0.role: the first message must use the user role")
        if role == previous:
            problems.append(f"messages.{n}: roles must alternate between user and assistant")
        previous = role
        content = message.get("content")
        if isinstance(content, str):
            if not content:
                problems.append(f"messages.{n}.content: text must be non-empty")
            continue
        if not isinstance(content, list) or not content:
            problems.append(f"messages.{n}.content: must be a string or a non-empty list")
            continue
        for k, block in enumerate(content):
            where = f"messages.{n}.content.{k}"
            problems += _check_block(where, role, block, tool_ids, images)
        final = content[-1] if n == len(messages) - 1 and role == "assistant" else {}
        if final.get("type") == "text" and final["text"] != final["text"].rstrip():
            problems.append("final assistant content cannot end with trailing whitespace")
    return problems


def _check_block(
    where: str, role: str, block: Any, tool_ids: set[str], images: list[ImageSeen]
) -> list[str]:
    kind = block.get("type") if isinstance(block, dict) else None
    problems = _check_cache_control(where, block)
    if problems:
        return problems
    if kind == "text":
        return [] if block.get("text") else [f"{where}: text content blocks must be non-empty"]
    if kind in ("thinking", "redacted_thinking"):
        if role != "assistant":
            return [f"{where}: thinking blocks belong in assistant turns"]
        if kind == "thinking" and not (
            isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str)
        ):
            return [f"{where}: a thinking block needs 'thinking' and 'signature'"]
        if kind == "redacted_thinking" and not isinstance(block.get("data"), str):
            return [f"{where}: a redacted_thinking block needs 'data'"]
        return []
    if kind == "image":
        if role != "user":
            return [f"{where}: images are only allowed in user turns"]
        return _check_image(where, block.get("source"), images)
    if kind == "document":
        if role != "user":
            return [f"{where}: documents are only allowed in user turns"]
        return _check_document(where, block.get("source"))
    if kind == "tool_use":
        if role != "assistant" or not block.get("id") or not isinstance(block.get("input"), dict):
            return [f"{where}: tool_use needs an assistant turn, an id and an object input"]
        tool_ids.add(block["id"])
        return []
    if kind == "tool_result":
        if role != "user" or block.get("tool_use_id") not in tool_ids:
            return [f"{where}: tool_result must answer an earlier tool_use id in a user turn"]
        if not isinstance(block.get("is_error", False), bool):
            return [f"{where}.is_error: must be a boolean"]
        inner = block.get("content")
        for j, item in enumerate(inner if isinstance(inner, list) else ()):
            problems += _check_block(f"{where}.content.{j}", "user", item, tool_ids, images)
        return problems
    return [f"{where}.type: unknown content block type {kind!r}"]


def _check_cache_control(where: str, block: Any) -> list[str]:
    """A prompt-cache breakpoint is ``{"type": "ephemeral"}``, with an optional ttl."""
    if not isinstance(block, dict) or "cache_control" not in block:
        return []
    value = block["cache_control"]
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        return [f"{where}.cache_control.type: must be 'ephemeral'"]
    if set(value) - {"type", "ttl"} or value.get("ttl", "5m") not in ("5m", "1h"):
        return [f"{where}.cache_control: only 'type' and a ttl of 5m or 1h are allowed"]
    return []


def count_cache_breakpoints(body: dict[str, Any]) -> int:
    """Blocks (system, tools, messages, tool results' content) marked with cache_control."""
    blocks: list[Any] = (
        list(body.get("system") or []) if isinstance(body.get("system"), list) else []
    )
    blocks += list(body.get("tools") or [])
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            blocks.append(block)
            inner = block.get("content") if isinstance(block, dict) else None
            blocks += inner if isinstance(inner, list) else []
    return sum(1 for b in blocks if isinstance(b, dict) and "cache_control" in b)


def _check_document(where: str, source: Any) -> list[str]:
    """A PDF document block: a URL, or base64 whose bytes are a PDF."""
    if not isinstance(source, dict) or source.get("type") == "url":
        return _check_url_source(where, source)
    if source.get("type") != "base64" or source.get("media_type") != "application/pdf":
        return [f"{where}.source: must be base64 with media_type application/pdf"]
    raw = decode_b64(source.get("data"))
    if raw is None:
        return [f"{where}.source.data: invalid base64 data"]
    return [] if raw.startswith(b"%PDF-") else [f"{where}: The PDF specified was not valid."]


def _check_url_source(where: str, source: Any) -> list[str]:
    """No source at all, or a URL source: it must be http(s)."""
    if not isinstance(source, dict):
        return [f"{where}.source: field required"]
    url = source.get("url")
    ok = isinstance(url, str) and url.startswith(("http://", "https://"))
    return [] if ok else [f"{where}.source.url: must be an http(s) URL"]


def _check_image(where: str, source: Any, images: list[ImageSeen]) -> list[str]:
    if not isinstance(source, dict) or source.get("type") == "url":
        return _check_url_source(where, source)
    if source.get("type") != "base64":
        return [f"{where}.source.type: must be base64 or url"]
    media_type = source.get("media_type")
    if media_type not in MEDIA_TYPES:
        return [f"{where}.source.media_type: must be one of {sorted(MEDIA_TYPES)}"]
    data = source.get("data")
    if isinstance(data, str) and len(data) > MAX_IMAGE_B64:
        return [f"{where}: image exceeds 5 MB maximum: {len(data)} bytes > {MAX_IMAGE_B64} bytes"]
    raw = decode_b64(data)
    if raw is None:
        return [f"{where}.source.data: invalid base64 data"]
    actual = sniff(raw)
    if actual != media_type:
        return [f"{where}: Image does not match the provided media type {media_type} ({actual})"]
    size = dimensions(raw)
    if size is None:
        return [f"{where}: Could not process image"]
    images.append(ImageSeen(media_type, size[0], size[1], len(raw)))
    return []


# -------------------------------------------------------------------- helpers


def _error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


def _event_message(kind: str) -> str:
    """The message of an error event of type ``kind``."""
    return "Overloaded" if kind == "overloaded_error" else f"fake {kind}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = _error_body(ERROR_TYPES.get(status, "api_error"), message)
    return web.json_response(body, status=status, headers=headers)


def _status_message(status: int, key: str) -> str:
    """The message of a forced failure; 401/403 echo the key, as the worst upstream would."""
    return {
        401: f"invalid x-api-key {key}",
        403: f"key {key} may not use this model",
        429: "Number of request tokens has exceeded your per-minute rate limit",
        529: "Overloaded",
        500: "Internal server error",
    }.get(status, f"fake failure {status}")


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _text_tokens(body: dict[str, Any]) -> int:
    """About four characters a token, over the system prompt and every text block."""
    texts = [body.get("system")] if isinstance(body.get("system"), str) else []
    texts += [b.get("text", "") for b in body.get("system") or () if isinstance(b, dict)]
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts += [str(b.get("text", "")) for b in content if b.get("type") == "text"]
    return sum(approx_tokens(t) for t in texts if t) + 4 * len(body["messages"])


def _tool_result_text(messages: list[dict[str, Any]]) -> str | None:
    last = messages[-1]
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                return " ".join(str(b.get("text", "")) for b in inner if b.get("type") == "text")
            return str(inner or "")
    return None


def _describe(body: dict[str, Any], images: list[ImageSeen]) -> str:
    result = _tool_result_text(body["messages"])
    if result is not None:
        return f"The tool returned: {result}"
    seen = ", ".join(f"{i.media_type} {i.width}x{i.height}" for i in images)
    return f"Fake Claude {body['model']} saw {len(images)} image(s){': ' + seen if seen else ''}."


def _sample(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that satisfy a simple object schema (its required properties)."""
    samples = {"string": "Paris", "integer": 3, "number": 1.5, "boolean": True, "array": []}
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    return {
        name: samples.get((properties.get(name) or {}).get("type", "string")) for name in required
    }
