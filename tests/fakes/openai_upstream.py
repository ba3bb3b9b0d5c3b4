"""A fake OpenAI-compatible Chat Completions API, for tests and the benchmark.

It checks every request against the documented wire shape (Bearer key, path, fields,
roles, ``image_url`` parts only in user messages, http(s) or ``data:`` URLs, base64 that
decodes to an image whose magic bytes match the declared type, size and count limits),
records what it received, and answers exactly as OpenAI does: a ``chat.completion``
body, or ``chat.completion.chunk`` SSE events ending with ``data: [DONE]``. With
``minimax=True`` it answers as MiniMax's chatcompletion_v2 (``base_resp`` on every
answer; a stream ends by repeating the whole message as a ``chat.completion`` object).

Misbehaviour on demand, by directives in the last user message's text (so they travel
through the gateway too) — ``[[name]]`` or ``[[name=value]]``:

- ``status=N``: answer HTTP N with OpenAI's error body (404: ``model_not_found``).
- ``leak_key``: a 401 whose message repeats the whole key it was sent, as a careless
  upstream might (the gateway must not pass it on).
- ``rate_limit=N``: the first N attempts of this exact body get 429 with
  ``Retry-After: 0``, later ones succeed.
- ``hang``: answer nothing until the client goes away; ``delay=S``: answer after S s.
- ``break=K``: a stream sends K content chunks, then the connection drops; a whole
  answer sends half its body, then drops.
- ``truncate=K``: a stream sends K content chunks, then ends cleanly without a finish
  reason or ``[DONE]``.
- ``stream_error=K``: after K content chunks, OpenRouter's ``data: {"error": ...}``
  event inside the 200 stream, then the end of the stream.
- ``base_resp=N``: MiniMax's failure inside HTTP 200 (``base_resp.status_code`` N).
- ``tool=NAME``: call tool NAME with ``{"city": "Paris"}`` instead of answering text.
- ``finish=REASON``: end with that finish reason; ``cached=N``: report N cached tokens.
- ``chunks=N`` / ``chunk_delay=S``: stream about N content chunks, S seconds apart.

A deployment that is down whatever it is sent: set ``fail_status`` (every answer is that
HTTP status) or ``hang`` (no answer until the client goes away).

``requests`` holds every request that reached the fake (refused ones too);
``disconnects`` counts answers the client abandoned midway.

Usage: ``fake = FakeOpenAI(api_key="sk-...")``; serve ``fake.app()`` on 127.0.0.1
(``tests.support.background.BackgroundApp`` or an ``aiohttp.web.AppRunner``); point a
provider's base URL at ``<url>/v1``. ``check_images=False`` skips decoding images, for
benchmarks that measure the gateway rather than the fake. ``reply="..."`` makes every
answer that exact text (the playground's tests send Markdown and hostile markup through).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_checks import Refused, RequestChecker, sniff_image

__all__ = ["FakeOpenAI", "Received", "Refused", "sniff_image"]

_DIRECTIVE = re.compile(r"\[\[([a-z_]+)(?:=([^\]]*))?\]\]")
_ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_value"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
_HANG_LIMIT = 120.0


@dataclass(slots=True)
class Received:
    """One request as the fake saw it; ``headers`` has lower-case names."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def image_urls(self) -> list[str]:
        return [
            part["image_url"]["url"]
            for message in self.body.get("messages", ())
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]

    @property
    def files(self) -> list[dict[str, Any]]:
        """The ``file`` objects of the request's file parts, as sent."""
        return [
            part["file"]
            for message in self.body.get("messages", ())
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "file"
        ]


@dataclass
class FakeOpenAI:
    """Configuration and record of one fake upstream; :meth:`app` builds the web app.

    ``api_key=None`` is a host that needs no key: a request that sends an
    ``Authorization`` header anyway is refused, which proves ``auth = "none"``.
    """

    api_key: str | None = "sk-fake-upstream-key-0123456789"
    minimax: bool = False
    minimax_done: bool = False
    sse_comments: bool = False
    accept_developer_role: bool = True
    accept_files: bool = False  # PDF ``file`` parts (OpenAI reads them; most hosts do not)
    check_images: bool = True
    max_images: int | None = None
    max_image_bytes: int = 20_000_000
    max_request_image_bytes: int = 50_000_000
    temperature_range: tuple[float, float] = (0.0, 2.0)
    models: frozenset[str] | None = None
    reply_words: int = 12
    reply: str | None = None  # answer exactly this text (streamed word by word) instead
    chunk_delay: float = 0.0
    # Every answer fails this way while set (a deployment that is down), whatever the body:
    # fail_status answers that HTTP status; hang answers nothing until the client goes.
    fail_status: int | None = None
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    disconnects: int = 0
    _attempts: dict[bytes, int] = field(default_factory=dict, repr=False)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=128 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self._handle)
        return app

    def reset(self) -> None:
        self.requests.clear()
        self._attempts.clear()
        self.disconnects = 0

    @property
    def last(self) -> Received:
        return self.requests[-1]

    async def _receive(self, request: web.Request) -> tuple[bytes, dict[str, str], Any]:
        """The raw body, the headers (lower-case names) and the parsed body (None when it
        is not JSON), recorded in :attr:`requests`."""
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        record = body if isinstance(body, dict) else {}
        self.requests.append(Received(request.path, headers, record))
        return raw, headers, body

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw, headers, body = await self._receive(request)
        try:
            self._check_auth(headers)
            self._check_path(request.path)
            if not isinstance(body, dict):
                raise Refused(400, "We could not parse the JSON body of your request.")
            RequestChecker(self).body(body)
        except Refused as refused:
            return _error(refused.status, refused.message, refused.param)
        try:
            return await self._answer(request, body, raw)
        except ConnectionResetError:
            self.disconnects += 1
            raise

    def _check_auth(self, headers: Mapping[str, str]) -> None:
        auth = headers.get("authorization")
        if self.api_key is None:
            if auth is not None:
                raise Refused(400, "This server takes no Authorization header.")
            return
        if auth != f"Bearer {self.api_key}":
            sent = (auth or "")[7:]
            masked = f"{sent[:3]}***{sent[-4:]}" if len(sent) > 8 else "(none)"
            raise Refused(401, f"Incorrect API key provided: {masked}.")

    def _check_path(self, path: str) -> None:
        expected = "/v1/text/chatcompletion_v2" if self.minimax else "/chat/completions"
        if not path.endswith(expected):
            raise Refused(404, f"Unknown path {path}; this host serves {expected}")

    async def _answer(
        self, request: web.Request, body: dict[str, Any], raw: bytes
    ) -> web.StreamResponse:
        directives = _directives(body)
        if self.fail_status is not None:
            return _error(self.fail_status, f"fake deployment down ({self.fail_status})")
        if self.hang and await self._client_gone_within(request, _HANG_LIMIT):
            return web.Response(status=499)
        if "status" in directives:
            status = int(directives["status"])
            return _error(status, f"fake upstream failure {status}, as the test asked")
        if "leak_key" in directives:
            sent = request.headers.get("Authorization", "")
            return _error(401, f"Incorrect API key provided: {sent[7:]}. Check it.")
        if "rate_limit" in directives:
            seen = self._attempts.get(raw, 0)
            self._attempts[raw] = seen + 1
            if seen < int(directives["rate_limit"]):
                return _error(429, "Rate limit reached; retry after 0s", None, {"Retry-After": "0"})
        if "hang" in directives or "delay" in directives:
            wait = _HANG_LIMIT if "hang" in directives else float(directives["delay"])
            if await self._client_gone_within(request, wait):
                return web.Response(status=499)
        if "base_resp" in directives:
            code = int(directives["base_resp"])
            message = "insufficient balance" if code == 1008 else "failed, as the test asked"
            base = {"base_resp": {"status_code": code, "status_msg": message}}
            return web.json_response({"id": "", "choices": None, **base})
        plan = _Plan.of(self, body, directives)
        if body.get("stream"):
            return await _Streamer(self, request, body, plan, directives).run()
        answer = _dumps(plan.completion(body, self.minimax)).encode()
        if "break" in directives:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(answer)
            await response.prepare(request)
            await response.write(answer[: len(answer) // 2])
            _drop(request)
            return response
        return web.Response(body=answer, content_type="application/json")

    async def _client_gone_within(self, request: web.Request, seconds: float) -> bool:
        """Wait ``seconds``, or less if the client hangs up (then True, and counted)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                self.disconnects += 1
                return True
            await asyncio.sleep(min(0.02, max(deadline - time.monotonic(), 0)))
        return False


def _error(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _drop(request: web.Request) -> None:
    """Cut the connection without finishing the body, as a crashing upstream would."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or ()):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(p.get("text", "") for p in content or () if p.get("type") == "text")
    return ""


def _directives(body: Mapping[str, Any]) -> dict[str, str]:
    return {m[1]: m[2] or "" for m in _DIRECTIVE.finditer(_last_user_text(body))}


@dataclass(slots=True)
class _Plan:
    """What one answer says, built once and rendered as a body or as a stream."""

    id: str
    created: int
    n: int
    words: list[str]
    finish: str
    tool: str | None
    prompt_tokens: int
    cached: int
    chunk_delay: float

    @classmethod
    def of(cls, fake: FakeOpenAI, body: dict[str, Any], directives: dict[str, str]) -> _Plan:
        messages = body["messages"]
        parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"]]
        images = sum(1 for p in parts if p.get("type") == "image_url")
        texts = [m["content"] for m in messages if isinstance(m.get("content"), str)]
        texts += [p["text"] for p in parts if p.get("type") == "text"]
        head = f"Fake reply from {body['model']}: {images} image(s) in {len(messages)} message(s)."
        count = int(directives.get("chunks") or fake.reply_words)
        words = head.split() + [_FILLER[i % len(_FILLER)] for i in range(max(count - 9, 0))]
        words = [w + " " for w in words[:-1]] + words[-1:]
        if fake.reply is not None:
            words = re.findall(r"\s*\S+\s*", fake.reply) or [fake.reply]
        tool = directives.get("tool") or None
        return cls(
            id=f"chatcmpl-fake{len(fake.requests)}",
            created=int(time.time()),
            n=int(body.get("n") or 1),
            words=words,
            finish=directives.get("finish") or ("tool_calls" if tool else "stop"),
            tool=tool,
            prompt_tokens=sum(len(t) for t in texts) // 4 + 85 * images + 3 * len(messages),
            cached=int(directives.get("cached") or 0),
            chunk_delay=float(directives.get("chunk_delay") or fake.chunk_delay),
        )

    @property
    def text(self) -> str:
        return "".join(self.words)

    def tool_call(self) -> dict[str, Any]:
        function = {"name": self.tool, "arguments": '{"city": "Paris"}'}
        return {"id": "call_fake", "type": "function", "function": function}

    def deltas(self) -> list[dict[str, Any]]:
        """The content deltas of a stream (the same for every choice)."""
        if not self.tool:
            return [{"content": word} for word in self.words]
        first = {"index": 0, "id": "call_fake", "type": "function"}
        first["function"] = {"name": self.tool, "arguments": ""}
        pieces = ['{"city"', ': "Par', 'is"}']
        rest = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
        return [{"tool_calls": [first]}, *rest]

    def usage(self) -> dict[str, Any]:
        completion = (12 if self.tool else len(self.words)) * self.n
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": self.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def completion(self, body: dict[str, Any], minimax: bool) -> dict[str, Any]:
        choices = []
        for i in range(self.n):
            message: dict[str, Any] = {"role": "assistant", "content": self.text, "refusal": None}
            if self.tool:
                message["content"] = None
                message["tool_calls"] = [self.tool_call()]
            choice = {"index": i, "message": message, "logprobs": None}
            choices.append(choice | {"finish_reason": self.finish})
        answer: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": choices,
            "usage": self.usage(),
        }
        if minimax:
            answer["input_sensitive"] = False
            answer["output_sensitive"] = False
            answer["base_resp"] = {"status_code": 0, "status_msg": ""}
        return answer


class _Streamer:
    """One SSE answer, OpenAI's or MiniMax's way, with the requested breakage."""

    def __init__(
        self,
        fake: FakeOpenAI,
        request: web.Request,
        body: dict[str, Any],
        plan: _Plan,
        directives: dict[str, str],
    ) -> None:
        self.fake = fake
        self.request = request
        self.body = body
        self.plan = plan
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.break_at = int(directives["break"]) if "break" in directives else None
        self.error_at = int(directives["stream_error"]) if "stream_error" in directives else None
        self.end_at = int(directives["truncate"]) if "truncate" in directives else None
        self.response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )

    async def send(self, event: dict[str, Any] | str) -> None:
        if self.fake.sse_comments:
            await self.response.write(b": OPENROUTER PROCESSING\n\n")
        text = event if isinstance(event, str) else _dumps(event)
        await self.response.write(f"data: {text}\n\n".encode())

    def chunk(self, index: int | None, delta: dict[str, Any], finish: str | None = None) -> dict:
        choices = [] if index is None else [{"index": index, "delta": delta, "logprobs": None}]
        if choices:
            choices[0]["finish_reason"] = finish
        out = {
            "id": self.plan.id,
            "object": "chat.completion.chunk",
            "created": self.plan.created,
            "model": self.body["model"],
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if self.include_usage and not self.fake.minimax:
            out["usage"] = None
        return out

    async def run(self) -> web.StreamResponse:
        plan = self.plan
        await self.response.prepare(self.request)
        for i in range(plan.n):
            await self.send(self.chunk(i, {"role": "assistant", "content": "", "refusal": None}))
        for k, delta in enumerate(plan.deltas()):
            if k == self.break_at:
                _drop(self.request)
                return self.response
            if k in (self.error_at, self.end_at):
                if k == self.error_at:
                    await self.send(self.error_event())
                await self.response.write_eof()
                return self.response
            if plan.chunk_delay:
                await asyncio.sleep(plan.chunk_delay)
            for i in range(plan.n):
                await self.send(self.chunk(i, delta))
        await self.finish()
        await self.response.write_eof()
        return self.response

    def error_event(self) -> dict[str, Any]:
        event = self.chunk(0, {"content": ""}, "error")
        event["error"] = {"code": 502, "message": "Provider returned error midway"}
        return event

    async def finish(self) -> None:
        plan = self.plan
        if self.fake.minimax:
            final = plan.completion(self.body, minimax=True)
            for choice in final["choices"]:
                choice.pop("logprobs")
            await self.send(final)
            if self.fake.minimax_done:
                await self.send("[DONE]")
            return
        for i in range(plan.n):
            await self.send(self.chunk(i, {}, plan.finish))
        if self.include_usage:
            await self.send(self.chunk(None, {}) | {"usage": plan.usage()})
        await self.send("[DONE]")
