"""The benchmark's fake provider: OpenAI Chat Completions and Anthropic Messages.

    python bench/upstream.py --port 18080 [--latency-ms 50] [--stream-chunks 20]

Answers ``POST /v1/chat/completions`` and ``POST /v1/messages`` with JSON, or SSE when the
request says ``"stream": true`` (N content chunks, then the API's own ending). It checks
requests the way a strict provider does, so a gateway that translates badly shows up as
400s in the counters rather than as speed: auth header present, a JSON object with
``model`` and ``messages``, for Anthropic ``max_tokens``, only user/assistant roles,
``image`` blocks with a base64 or url source and no OpenAI ``image_url`` parts. Images are
counted (base64 or URL), never decoded. ``GET /stats`` returns the counters,
``POST /stats/reset`` zeroes them.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

import orjson
from httpcore import Reply, Request, serve

_ANTHROPIC_MEDIA = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_PADDING = "Zq8XbT3kLm0pRw7v"
_WORDS = ("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "by", "a", "river")


class Upstream:
    def __init__(
        self, latency_ms: float, chunks: int, chunk_delay_ms: float, obfuscation: bool = False
    ) -> None:
        self.obfuscation = obfuscation
        self.delay = latency_ms / 1000.0
        self.chunk_delay = chunk_delay_ms / 1000.0
        self.chunks = max(1, chunks)
        self.stats: Counter[str] = Counter()
        self.last_bad = ""
        self.words = [_WORDS[i % len(_WORDS)] + " " for i in range(self.chunks)]

    # ------------------------------------------------------------------ routing

    def handle(self, req: Request) -> Reply:
        path = req.path
        if req.method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return self._counted("openai", req, self._openai)
        if req.method == "POST" and path in ("/v1/messages", "/messages"):
            return self._counted("anthropic", req, self._anthropic)
        if path == "/stats":
            if req.method == "POST":
                self.stats.clear()
            return Reply(body=orjson.dumps({**self.stats, "last_bad": self.last_bad}))
        if path == "/health":
            return Reply(content_type="text/plain", body=b"ok")
        return Reply(404, body=b'{"error":"not found"}')

    def _counted(self, api: str, req: Request, answer: Any) -> Reply:
        self.stats[f"{api}.requests"] += 1
        self.stats[f"{api}.bytes_in"] += len(req.body)
        try:
            data = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return self._bad(api, "the body is not JSON")
        if not isinstance(data, dict):
            return self._bad(api, "the body is not a JSON object")
        reply: Reply = answer(req, data)
        if reply.status >= 400:
            return reply
        if reply.chunks is not None:
            self.stats[f"{api}.streams"] += 1
        reply.delay_s = self.delay
        reply.chunk_delay_s = self.chunk_delay
        return reply

    def _bad(self, api: str, why: str, status: int = 400) -> Reply:
        self.stats[f"{api}.bad_requests"] += 1
        self.last_bad = f"{api}: {why}"
        if api == "anthropic":
            error = {"type": "error", "error": {"type": "invalid_request_error", "message": why}}
        else:
            error = {"error": {"message": why, "type": "invalid_request_error", "code": None}}
        return Reply(status, body=orjson.dumps(error))

    # ------------------------------------------------------------------ OpenAI

    def _openai(self, req: Request, data: dict[str, Any]) -> Reply:
        if not req.headers.get("authorization", "").startswith("Bearer "):
            return self._bad("openai", "missing bearer token", 401)
        messages = data.get("messages")
        if not isinstance(data.get("model"), str) or not isinstance(messages, list):
            return self._bad("openai", "model and messages are required")
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                if part.get("type") == "image_url":
                    url = (part.get("image_url") or {}).get("url") or ""
                    kind = "base64" if url.startswith("data:") else "url"
                    self.stats[f"openai.images_{kind}"] += 1
                elif part.get("type") != "text":
                    return self._bad("openai", f"unknown content part {part.get('type')!r}")
        model = data["model"]
        if data.get("stream"):
            usage = bool((data.get("stream_options") or {}).get("include_usage"))
            return Reply(content_type="text/event-stream", chunks=self._openai_sse(model, usage))
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "A short answer from the fake."},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
        }
        return Reply(body=orjson.dumps(body))

    def _openai_sse(self, model: str, usage: bool) -> list[bytes]:
        head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0}
        head["model"] = model

        def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            body: dict[str, Any] = {**head, "choices": [choice]}
            if self.obfuscation:  # OpenAI pads every chunk to hide the tokens' lengths
                body["obfuscation"] = _PADDING[: max(1, 16 - len(delta.get("content") or ""))]
            return b"data: " + orjson.dumps(body) + b"\n\n"

        frames = [frame({"role": "assistant", "content": ""})]
        frames += [frame({"content": word}) for word in self.words]
        frames.append(frame({}, "stop"))
        if usage:
            counts = {"prompt_tokens": 20, "completion_tokens": self.chunks, "total_tokens": 0}
            counts["total_tokens"] = 20 + self.chunks
            frames.append(
                b"data: " + orjson.dumps({**head, "choices": [], "usage": counts}) + b"\n\n"
            )
        frames.append(b"data: [DONE]\n\n")
        return [b"".join(frames)] if not self.chunk_delay else frames

    # ------------------------------------------------------------------ Anthropic

    def _anthropic(self, req: Request, data: dict[str, Any]) -> Reply:
        if not req.headers.get("x-api-key") or not req.headers.get("anthropic-version"):
            return self._bad("anthropic", "x-api-key and anthropic-version are required", 401)
        messages = data.get("messages")
        if not isinstance(data.get("model"), str) or not isinstance(messages, list) or not messages:
            return self._bad("anthropic", "model and messages are required")
        if not isinstance(data.get("max_tokens"), int):
            return self._bad("anthropic", "max_tokens: Field required")
        for message in messages:
            why = self._anthropic_message(message)
            if why:
                return self._bad("anthropic", why)
        if data.get("stream"):
            return Reply(
                content_type="text/event-stream", chunks=self._anthropic_sse(data["model"])
            )
        body = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": data["model"],
            "content": [{"type": "text", "text": "A short answer from the fake."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 7},
        }
        return Reply(body=orjson.dumps(body))

    def _anthropic_message(self, message: Any) -> str | None:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return "messages: roles must be 'user' or 'assistant' (system goes top-level)"
        content = message.get("content")
        if isinstance(content, str):
            return None
        if not isinstance(content, list):
            return "messages.content must be a string or a list of blocks"
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                if not block.get("text"):
                    return "text content blocks must be non-empty"
            elif kind == "image":
                source = block.get("source") or {}
                if source.get("type") == "base64":
                    if source.get("media_type") not in _ANTHROPIC_MEDIA or not source.get("data"):
                        return "image source: bad media_type or empty data"
                    self.stats["anthropic.images_base64"] += 1
                elif source.get("type") == "url" and source.get("url"):
                    self.stats["anthropic.images_url"] += 1
                else:
                    return "image source must be base64 or url"
            else:
                return f"unknown content block type {kind!r}"
        return None

    def _anthropic_sse(self, model: str) -> list[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

        start = {
            "type": "message",
            "id": "msg_fake",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 20, "output_tokens": 1},
        }
        frames = [
            event("message_start", {"type": "message_start", "message": start}),
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
        ]
        for word in self.words:
            delta = {"type": "text_delta", "text": word}
            frames.append(
                event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
            )
        frames.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        frames.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.chunks},
                },
            )
        )
        frames.append(event("message_stop", {"type": "message_stop"}))
        return [b"".join(frames)] if not self.chunk_delay else frames


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    ap.add_argument("--stream-chunks", type=int, default=20, help="content chunks per stream")
    ap.add_argument("--chunk-delay-ms", type=float, default=0.0, help="delay between SSE chunks")
    ap.add_argument(
        "--obfuscation",
        action="store_true",
        help="pad each OpenAI chunk with an obfuscation member, as OpenAI does by default",
    )
    args = ap.parse_args()
    upstream = Upstream(
        args.latency_ms, args.stream_chunks, args.chunk_delay_ms, obfuscation=args.obfuscation
    )

    def connected() -> None:
        upstream.stats["connections"] += 1

    serve(args.host, args.port, upstream.handle, connected)


if __name__ == "__main__":
    main()
