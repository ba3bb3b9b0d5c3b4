"""A fake Gemini API (generativelanguage v1beta) on loopback that checks requests.

``GeminiFake().app()`` serves ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``. Every request is checked against the documented shape
(:func:`check_generate_request`): the ``x-goog-api-key`` header, the path, ``contents``
roles ``user``/``model`` alternating from and ending with the user, ``inlineData`` whose
base64 is valid and whose mime type is one Gemini takes (png, jpeg, webp, heic, heif —
no GIF) and matches the bytes, at most five stop sequences, ``candidateCount`` 1, and the
whole request under 20 MB. Field names are accepted in lowerCamelCase and snake_case, as
the real API does. A request that breaks a rule is recorded with its violations and
answered 400 ``INVALID_ARGUMENT``.

Answers use the API's JSON and SSE formats (``data: {GenerateContentResponse}``, no
``[DONE]``, usage on every chunk and complete on the last). Behaviour is set on the object
or per request by a directive in the last user text:

``[[say:TEXT]]`` · ``[[tool:NAME]]`` call a function · ``[[finish:REASON]]`` force a
finishReason (``SAFETY`` ...) · ``[[block:REASON]]`` block the prompt (``promptFeedback``)
· ``[[status:429]]`` answer that HTTP error (401/403 echo the key, as the worst upstream
would) · ``[[slow:SECONDS]]`` · ``[[error:STATUS]]`` an error chunk mid-stream ·
``[[break:N]]`` drop the connection after N chunks · ``[[cache]]`` report cached tokens.

A 429 carries its delay as the real API does: in the body, a ``google.rpc.RetryInfo``
detail whose ``retryDelay`` is ``fake.retry_delay`` (``"0s"`` unless a test sets it), after a
``QuotaFailure`` detail, and no ``Retry-After`` header.
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
    directives,
    pause,
    sniff,
    sse_frame,
    words,
)

__all__ = ["GeminiFake", "check_generate_request"]

MIME_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "application/pdf"}
)
MAX_REQUEST_BYTES = 20 * 1024 * 1024
MAX_STOP_SEQUENCES = 5
TOP_LEVEL = {
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
}
GENERATION_KEYS = {
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "stopSequences",
    "candidateCount",
    "responseMimeType",
    "responseSchema",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
SEPARATOR = "\r\n\r\n"  # what the real API puts between SSE events


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def normalise(value: Any) -> Any:
    """Field names in lowerCamelCase (proto3 JSON accepts both spellings)."""
    if isinstance(value, dict):
        return {_camel(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


@dataclass
class Reply:
    model: str
    text: str
    call: tuple[str, dict[str, Any]] | None
    finish: str
    block: str | None
    prompt_tokens: int
    output_tokens: int
    cached: int = 0


@dataclass
class GeminiFake:
    api_key: str = "AIza-fake-0123456789"
    record: bool = True
    reply: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    missing_models: set[str] = field(default_factory=set)
    failures: list[int] = field(default_factory=list)
    retry_delay: str = "0s"
    function_args: dict[str, Any] | None = None
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
        app.router.add_route("*", "/v1beta/models/{spec}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        received = Received(
            request.method, request.path, dict(request.query), dict(request.headers), None, len(raw)
        )
        if self.record:
            self.requests.append(received)
        model, _, method = request.match_info["spec"].partition(":")
        if request.method != "POST" or method not in ("generateContent", "streamGenerateContent"):
            received.violations.append(f"{request.method} {request.path}: unknown method")
            return _error(404, f"Method not found: {method}")
        stream = method == "streamGenerateContent"
        if stream and request.query.get("alt") != "sse":
            received.violations.append("streamGenerateContent without ?alt=sse")
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return _error(403, "Method doesn't allow unregistered callers. Please use an API key.")
        if key != self.api_key:
            return _error(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
        try:
            body = json.loads(raw)
        except ValueError:
            received.violations.append("body is not JSON")
            return _error(400, "Invalid JSON payload received.")
        received.body = body
        if len(raw) > MAX_REQUEST_BYTES:
            received.violations.append(f"request is {len(raw)} bytes, over 20 MB")
        received.violations += check_generate_request(body)
        if received.violations:
            return _error(400, "; ".join(received.violations))
        body = normalise(body)
        wanted = directives(_last_user_text(body["contents"]))
        delay = float(wanted.get("slow") or self.delay)
        if delay:
            await pause(request, delay)
        status = int(wanted["status"]) if wanted.get("status") else None
        if status is None and self.failures:
            status = self.failures.pop(0)
        if status:
            return _error(status, _status_message(status, key), retry_delay=self.retry_delay)
        if model in self.missing_models:
            return _error(
                404,
                f"models/{model} is not found for API version v1beta, or is not supported for "
                "generateContent. Call ListModels to see the list of available models.",
            )
        reply = self._reply(model, body, wanted)
        if stream:
            return await self._stream(request, reply, wanted)
        return web.json_response(self._response(reply, reply.text, final=True))

    def _reply(self, model: str, body: dict[str, Any], wanted: dict[str, str]) -> Reply:
        config = body.get("generationConfig") or {}
        declarations = [
            d for t in body.get("tools") or () for d in t.get("functionDeclarations", ())
        ]
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        call = None
        if declarations and mode != "NONE" and ("tool" in wanted or mode == "ANY"):
            allowed = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get(
                "allowedFunctionNames"
            )
            name = wanted.get("tool") or (allowed[0] if allowed else declarations[0]["name"])
            params = next(d for d in declarations if d["name"] == name).get("parameters") or {}
            call = (name, self.function_args if self.function_args is not None else _sample(params))
        text = wanted.get("say") or self.reply or _describe(model, body)
        if call:
            text = ""
        finish = "STOP"
        for seq in config.get("stopSequences") or ():
            at = text.find(seq)
            if at >= 0:
                text = text[:at]
        limit = config.get("maxOutputTokens")
        pieces = words(text)
        if limit and len(pieces) > limit:
            text, finish = "".join(pieces[:limit]), "MAX_TOKENS"
        if config.get("responseMimeType") == "application/json" and not call:
            text = json.dumps({"answer": text})
        finish = wanted.get("finish") or finish
        block = wanted.get("block") or None
        if block or (
            finish in ("SAFETY", "RECITATION", "PROHIBITED_CONTENT") and "say" not in wanted
        ):
            text = ""
        images = [p for c in body["contents"] for p in c["parts"] if "inlineData" in p]
        prompt = _text_tokens(body) + 258 * len(images)
        output = len(words(text)) + (approx_tokens(json.dumps(call[1])) if call else 0)
        cached = min(prompt, 64) if "cache" in wanted else 0
        return Reply(model, text, call, finish, block, prompt, output, cached)

    def _response(
        self, reply: Reply, text: str, *, final: bool, partial: int = 0
    ) -> dict[str, Any]:
        """One GenerateContentResponse: ``text`` (and the call, on the final chunk)."""
        out: dict[str, Any] = {"modelVersion": reply.model, "responseId": f"fake-{next(self._ids)}"}
        usage: dict[str, Any] = {"promptTokenCount": reply.prompt_tokens}
        if reply.cached:
            usage["cachedContentTokenCount"] = reply.cached
        if reply.block:
            out["promptFeedback"] = {
                "blockReason": reply.block,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                ],
            }
            usage["totalTokenCount"] = reply.prompt_tokens
            out["usageMetadata"] = usage
            return out
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        if final and reply.call:
            parts.append({"functionCall": {"name": reply.call[0], "args": reply.call[1]}})
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        output = reply.output_tokens if final else partial
        if final:
            candidate["finishReason"] = reply.finish
            candidate["safetyRatings"] = [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}
            ]
        if output:
            usage["candidatesTokenCount"] = output
        usage["totalTokenCount"] = reply.prompt_tokens + output
        out["candidates"] = [candidate]
        out["usageMetadata"] = usage
        return out

    async def _stream(
        self, request: web.Request, reply: Reply, wanted: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        pieces = words(reply.text)
        # Up to three text chunks, then the final chunk (finishReason + full usage).
        size = max(1, -(-len(pieces) // 3))
        chunks = ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)] or [""]
        try:
            for n, text in enumerate(chunks):
                final = n == len(chunks) - 1
                if wanted.get("error") and n == 1:
                    status = wanted["error"] or "UNAVAILABLE"
                    code = {v: k for k, v in STATUS_NAMES.items()}.get(status, 503)
                    error = {"code": code, "message": "The model is overloaded.", "status": status}
                    await self._send(response, {"error": error})
                    await response.write_eof()
                    return response
                if "break" in wanted and n == int(wanted["break"] or 1):
                    assert request.transport is not None
                    request.transport.close()
                    return response
                partial = len(words("".join(chunks[: n + 1])))
                await self._send(
                    response, self._response(reply, text, final=final, partial=partial)
                )
            self.completed_streams += 1  # before write_eof: the client may finish first
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        return response

    async def _send(self, response: web.StreamResponse, data: dict[str, Any]) -> None:
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay)
        await response.write(sse_frame(None, data, SEPARATOR))


# -------------------------------------------------------------------- request checks


def check_generate_request(body: Any) -> list[str]:
    """Every way ``body`` breaks the generateContent rules (empty when valid)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    body = normalise(body)
    problems = [f'Invalid JSON payload received. Unknown name "{k}"' for k in set(body) - TOP_LEVEL]
    problems += _check_config(body.get("generationConfig"))
    system = body.get("systemInstruction")
    if system is not None:
        parts = system.get("parts") if isinstance(system, dict) else None
        if not parts or any(set(p) != {"text"} for p in parts):
            problems.append("systemInstruction: must hold text parts only")
    names = _check_tools(body.get("tools"), body.get("toolConfig"), problems)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return [*problems, "contents is not specified"]
    problems += _check_contents(contents, names)
    return problems


def _check_config(config: Any) -> list[str]:
    if config is None:
        return []
    if not isinstance(config, dict):
        return ["generationConfig: must be an object"]
    problems = [f'generationConfig: Unknown name "{k}"' for k in set(config) - GENERATION_KEYS]
    stops = config.get("stopSequences") or []
    if len(stops) > MAX_STOP_SEQUENCES:
        problems.append(f"stopSequences: at most {MAX_STOP_SEQUENCES} allowed, got {len(stops)}")
    if config.get("candidateCount", 1) != 1:
        problems.append("candidateCount: only 1 candidate is supported")
    temperature = config.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        problems.append("temperature: must be in [0.0, 2.0]")
    mime = config.get("responseMimeType")
    if mime not in (None, "text/plain", "application/json", "text/x.enum"):
        problems.append(f"responseMimeType: unsupported mime type {mime!r}")
    if config.get("responseSchema") is not None:
        if mime != "application/json":
            problems.append("responseSchema needs responseMimeType application/json")
        problems += _check_schema(config["responseSchema"], "responseSchema")
    return problems


def _check_schema(schema: Any, where: str) -> list[str]:
    allowed = {"type", "format", "description", "nullable", "enum", "items", "properties"}
    allowed |= {"required", "minItems", "maxItems"}
    if not isinstance(schema, dict):
        return [f"{where}: must be an object"]
    problems = [f'{where}: Unknown name "{k}"' for k in set(schema) - allowed]
    kind = schema.get("type")
    types = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}
    if not isinstance(kind, str) or kind.upper() not in types:
        problems.append(f"{where}.type: must be one of {sorted(types)}")
    elif kind.upper() == "OBJECT" and not schema.get("properties"):
        problems.append(f"{where}.properties: should be non-empty for OBJECT type")
    for name, sub in (schema.get("properties") or {}).items():
        problems += _check_schema(sub, f"{where}.properties.{name}")
    if "items" in schema:
        problems += _check_schema(schema["items"], f"{where}.items")
    return problems


def _check_tools(tools: Any, tool_config: Any, problems: list[str]) -> set[str]:
    names: set[str] = set()
    for n, tool in enumerate(tools or ()):
        for k, declaration in enumerate(tool.get("functionDeclarations") or ()):
            if not declaration.get("name"):
                problems.append(f"tools[{n}].functionDeclarations[{k}].name: required")
                continue
            names.add(declaration["name"])
            if "parameters" in declaration:
                where = f"tools[{n}].functionDeclarations[{k}].parameters"
                problems += _check_schema(declaration["parameters"], where)
    calling = (tool_config or {}).get("functionCallingConfig") or {}
    if calling.get("mode") not in (None, "AUTO", "ANY", "NONE"):
        problems.append("toolConfig.functionCallingConfig.mode: invalid")
    for name in calling.get("allowedFunctionNames") or ():
        if name not in names:
            problems.append(f"allowedFunctionNames: {name!r} is not declared")
    return names


def _check_contents(contents: list[Any], names: set[str]) -> list[str]:
    problems: list[str] = []
    previous = None
    last_calls: list[str] = []
    for n, content in enumerate(contents):
        role = content.get("role") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            problems.append(f"contents[{n}].role: must be 'user' or 'model', got {role!r}")
            continue
        if n == 0 and role != "user":
            problems.append("First content should be with role 'user', got model")
        if role == previous:
            problems.append(
                "Please ensure that multiturn requests alternate between user and model."
            )
        previous = role
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            problems.append(f"contents[{n}].parts: must not be empty")
            continue
        for k, part in enumerate(parts):
            problems += _check_part(f"contents[{n}].parts[{k}]", role, part, names, last_calls)
        if role == "model":
            last_calls = [p["functionCall"]["name"] for p in parts if "functionCall" in p]
    if previous != "user":
        problems.append(
            "Please ensure that single turn requests end with a user role or the role field "
            "is empty."
        )
    return problems


def _check_part(
    where: str, role: str, part: Any, names: set[str], last_calls: list[str]
) -> list[str]:
    if not isinstance(part, dict) or len(part) != 1:
        return [f"{where}: a part holds exactly one of text, inlineData, functionCall, ..."]
    ((kind, value),) = part.items()
    if kind == "text":
        return [] if isinstance(value, str) and value else [f"{where}.text: must be non-empty"]
    if kind == "inlineData":
        if role != "user":
            return [f"{where}: inline data belongs in user turns"]
        mime = value.get("mimeType")
        if mime not in MIME_TYPES:
            return [f"{where}.inlineData.mimeType: Unsupported MIME type: {mime}"]
        raw = decode_b64(value.get("data"))
        if raw is None:
            return [f"{where}.inlineData.data: Base64 decoding failed"]
        actual = sniff(raw)
        return [] if actual == mime else [f"{where}: bytes are {actual}, declared {mime}"]
    if kind == "functionCall":
        ok = (
            role == "model"
            and value.get("name") in names
            and isinstance(value.get("args", {}), dict)
        )
        return (
            [] if ok else [f"{where}.functionCall: must name a declared function, in a model turn"]
        )
    if kind == "functionResponse":
        ok = role == "user" and value.get("name") in last_calls
        ok = ok and isinstance(value.get("response"), dict)
        return [] if ok else [f"{where}.functionResponse: must answer the previous functionCall"]
    return [f'{where}: Unknown name "{kind}"']


# -------------------------------------------------------------------- helpers


def _error(
    status: int, message: str, reason: str | None = None, retry_delay: str = "0s"
) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if reason:
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
        error["details"] = [{**info, "domain": "googleapis.com"}]
    if status == 429:
        quota = {"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests"}
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [quota]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ]
    return web.json_response({"error": error}, status=status)


def _status_message(status: int, key: str) -> str:
    """The message of a forced failure; 401/403 echo the key, as the worst upstream would."""
    return {
        401: f"Request had invalid authentication credentials: {key}",
        403: f"The caller {key} does not have permission",
        429: "Resource has been exhausted (e.g. check quota).",
        503: "The model is overloaded. Please try again later.",
        500: "An internal error has occurred.",
    }.get(status, f"fake failure {status}")


def _last_user_text(contents: list[dict[str, Any]]) -> str:
    for content in reversed(contents):
        if content.get("role") == "user":
            return " ".join(str(p["text"]) for p in content["parts"] if "text" in p)
    return ""


def _text_tokens(body: dict[str, Any]) -> int:
    system = (body.get("systemInstruction") or {}).get("parts") or []
    texts = [p.get("text", "") for p in system]
    texts += [p["text"] for c in body["contents"] for p in c["parts"] if "text" in p]
    return sum(approx_tokens(t) for t in texts if t) + 4 * len(body["contents"])


def _describe(model: str, body: dict[str, Any]) -> str:
    last = body["contents"][-1]["parts"]
    responses = [p["functionResponse"] for p in last if "functionResponse" in p]
    if responses:
        return (
            f"The function {responses[0]['name']} returned {json.dumps(responses[0]['response'])}"
        )
    images = [
        p["inlineData"]["mimeType"]
        for c in body["contents"]
        for p in c["parts"]
        if "inlineData" in p
    ]
    seen = ", ".join(images)
    return f"Fake Gemini {model} saw {len(images)} image(s){': ' + seen if seen else ''}."


def _sample(schema: dict[str, Any]) -> dict[str, Any]:
    samples = {"STRING": "Paris", "INTEGER": 3, "NUMBER": 1.5, "BOOLEAN": True, "ARRAY": []}
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    return {
        name: samples.get(str((properties.get(name) or {}).get("type", "STRING")).upper())
        for name in required
    }
