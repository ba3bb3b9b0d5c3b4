"""Internal stream deltas → the Messages API's SSE events.

Anthropic's sequence: ``message_start`` (the message with empty content and the input
tokens known so far), per content block ``content_block_start``, its deltas
(``text_delta``, ``input_json_delta``) and ``content_block_stop``, then ``message_delta``
(stop reason, stop sequence, final usage) and ``message_stop``; ``ping`` while the
provider is silent. Blocks open as deltas arrive: text opens a text block, each new tool
call closes the open block and opens a ``tool_use`` block. The final usage is the last
delta the service yields, so ``message_delta`` is written only when it arrives.
"""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.api.messages.render import error_body, message_usage, stop_reason
from visiongate.core.messages import ChatRequest, StreamDelta, ToolCallDelta, Usage
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError
from visiongate.service import estimate_prompt_tokens

__all__ = ["MessagesStream"]

_PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def _event(kind: str, body: dict[str, Any]) -> bytes:
    body = {"type": kind, **body}
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"


class MessagesStream:
    """The events of one streamed message (a ``StreamRenderer``)."""

    def __init__(self, request: ChatRequest, outcome: Outcome, ping_interval: float | None) -> None:
        self.request = request
        self.outcome = outcome
        self.ping_interval = ping_interval
        self.index = -1  # the open block's index; blocks are numbered as they open
        self.open: str | None = None  # "text" or "tool"
        self.tools: dict[int, int] = {}  # tool call index → block index
        self.finish: str | None = None
        self.stop_sequence: str | None = None
        self.text_prefix = b""

    def start(self) -> bytes:
        estimate = estimate_prompt_tokens(self.request) + self.outcome.image_tokens
        message: dict[str, Any] = {
            "id": f"msg_{self.outcome.request_id}",
            "type": "message",
            "role": "assistant",
            "model": self.request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # The provider's own count replaces this estimate in message_delta.
            "usage": {"input_tokens": estimate, "output_tokens": 0},
        }
        return _event("message_start", {"message": message})

    def delta(self, delta: StreamDelta) -> bytes:
        if delta.parts or delta.run:  # one event per upstream event, as they were joined
            return b"".join([self.delta(part) for part in delta.each()])
        frames: list[bytes] = []
        text = delta.content or delta.refusal
        if text:
            if self.open != "text":
                frames += self._close()
                frames.append(self._open({"type": "text", "text": ""}, "text"))
                # Every text delta of the block differs only in its text: the rest is
                # serialised once, as the chat chunks' prefix is.
                self.text_prefix = (
                    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
                    b'"delta":{"type":"text_delta","text":' % self.index
                )
            frames.append(self.text_prefix + orjson.dumps(text) + b"}}\n\n")
        for piece in delta.tool_calls or ():
            frames += self._tool_piece(piece)
        if delta.refusal and delta.finish_reason == "stop":
            self.finish = "content_filter"
        elif delta.finish_reason:
            self.finish = delta.finish_reason
        if delta.stop_sequence:
            self.stop_sequence = delta.stop_sequence
        return b"".join(frames)

    def usage(self, usage: Usage) -> bytes:
        frames = self._close()
        body = {
            "delta": {
                "stop_reason": stop_reason(self.finish, self.stop_sequence),
                "stop_sequence": self.stop_sequence,
            },
            "usage": message_usage(usage),
        }
        frames.append(_event("message_delta", body))
        frames.append(_event("message_stop", {}))
        return b"".join(frames)

    @staticmethod
    def end() -> bytes:
        return b""

    def error(self, exc: GatewayError) -> bytes:
        _, body = error_body(exc)
        return b"event: error\ndata: " + body + b"\n\n"

    @staticmethod
    def ping() -> bytes:
        return _PING

    def _open(self, block: dict[str, Any], kind: str) -> bytes:
        self.index += 1
        self.open = kind
        return _event("content_block_start", {"index": self.index, "content_block": block})

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        self.open = None
        return [_event("content_block_stop", {"index": self.index})]

    def _tool_piece(self, piece: ToolCallDelta) -> list[bytes]:
        frames: list[bytes] = []
        index = self.tools.get(piece.index)
        if index is None:
            frames += self._close()
            block = {
                "type": "tool_use",
                "id": piece.id or f"toolu_{self.outcome.request_id}_{piece.index}",
                "name": piece.name or "",
                "input": {},
            }
            frames.append(self._open(block, "tool"))
            index = self.tools[piece.index] = self.index
        if piece.arguments:
            delta = {"type": "input_json_delta", "partial_json": piece.arguments}
            frames.append(_event("content_block_delta", {"index": index, "delta": delta}))
        return frames
