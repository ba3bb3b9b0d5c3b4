"""Internal stream deltas → the Responses API's typed SSE events.

Each event is ``event: <type>`` plus a JSON ``data`` line carrying the same ``type`` and a
``sequence_number`` that counts every event of the stream. The order is OpenAI's:
``response.created``, ``response.in_progress``, then per output item ``output_item.added``
(+ ``content_part.added``), its deltas, its ``.done`` events, and finally
``response.completed`` or ``response.incomplete`` holding the whole response with its
usage. No ``[DONE]``. A failure after the first event is an ``error`` event followed by
``response.failed``.

Items open as deltas arrive: text opens a message item, a new tool call closes it and
opens a ``function_call`` item; everything still open is closed when the usage (the last
delta) arrives, since only then is the answer known to be complete.
"""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.api.responses.render import (
    function_call_item,
    message_item,
    response_object,
    response_status,
)
from visiongate.core.messages import ChatRequest, StreamDelta, ToolCall, ToolCallDelta, Usage
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError

__all__ = ["ResponsesStream"]

# ``response.error.code`` is a closed set in OpenAI's schema; the gateway's own code
# travels in the ``error`` event before it, which takes any string.
_FAILED_CODES = {
    "rate_limit_exceeded": "rate_limit_exceeded",
    "invalid_image": "invalid_image",
    "invalid_image_url": "invalid_image_url",
    "image_too_large": "image_too_large",
    "image_fetch_failed": "failed_to_download_image",
}


class _Call:
    __slots__ = ("arguments", "call", "item_id", "output_index")

    def __init__(self, item_id: str, output_index: int, call: ToolCall) -> None:
        self.item_id = item_id
        self.output_index = output_index
        self.call = call
        self.arguments: list[str] = []


class ResponsesStream:
    """The events of one streamed response (a ``StreamRenderer``)."""

    ping_interval: float | None = None  # the Responses API has no keep-alive event

    def __init__(self, request: ChatRequest, outcome: Outcome) -> None:
        self.request = request
        self.outcome = outcome
        self.seq = 0
        self.output: list[dict[str, Any]] = []  # finished items, in output order
        self.text: list[str] | None = None  # the open message item's text
        self.refusal: list[str] | None = None
        self.message_index = -1
        self.calls: dict[int, _Call] = {}  # tool call index → its item
        self.open_call: _Call | None = None
        self.finish: str | None = None
        self.text_prefix = b""

    # -- framing

    def _event(self, kind: str, body: dict[str, Any]) -> bytes:
        body["type"] = kind
        body["sequence_number"] = self.seq
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self.request, self.outcome, status, list(self.output), **extra)

    # -- StreamRenderer

    def start(self) -> bytes:
        return self._event(
            "response.created", {"response": self._response("in_progress")}
        ) + self._event("response.in_progress", {"response": self._response("in_progress")})

    def delta(self, delta: StreamDelta) -> bytes:
        if delta.parts or delta.run:  # one event per upstream event, as they were joined
            return b"".join([self.delta(part) for part in delta.each()])
        frames: list[bytes] = []
        if delta.content:
            frames += self._text(delta.content, refusal=False)
        if delta.refusal:
            frames += self._text(delta.refusal, refusal=True)
        for piece in delta.tool_calls or ():
            frames += self._tool_piece(piece)
        if delta.finish_reason:
            self.finish = delta.finish_reason
        return b"".join(frames)

    def usage(self, usage: Usage) -> bytes:
        frames = self._close_message() + self._close_call()
        if not self.output:  # nothing at all was said: still one (empty) message
            self.output.append(
                message_item(f"msg_{self.outcome.request_id}", "", None, "completed")
            )
        status, incomplete = response_status(self.finish)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        response = self._response(status, usage=usage, incomplete=incomplete)
        frames.append(self._event(kind, {"response": response}))
        return b"".join(frames)

    @staticmethod
    def end() -> bytes:
        return b""

    def error(self, exc: GatewayError) -> bytes:
        error = {"code": _FAILED_CODES.get(exc.code or "", "server_error"), "message": exc.message}
        return self._event(
            "error", {"code": exc.code, "message": exc.message, "param": exc.param}
        ) + self._event("response.failed", {"response": self._response("failed", error=error)})

    @staticmethod
    def ping() -> bytes:
        return b""

    # -- items

    def _text(self, piece: str, *, refusal: bool) -> list[bytes]:
        frames = self._close_call()
        item_id = f"msg_{self.outcome.request_id}"
        if self.text is None and self.refusal is None:
            self.message_index = len(self.output)
            item = message_item(item_id, None, None, "in_progress")
            frames.append(
                self._event(
                    "response.output_item.added", {"output_index": self.message_index, "item": item}
                )
            )
        where = {"item_id": item_id, "output_index": self.message_index}
        if refusal:
            if self.refusal is None:
                self.refusal = []
                frames.append(self._part_added(where, {"type": "refusal", "refusal": ""}))
            self.refusal.append(piece)
            frames.append(
                self._event(
                    "response.refusal.delta",
                    {**where, "content_index": self._refusal_index, "delta": piece},
                )
            )
        else:
            if self.text is None:
                self.text = []
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                frames.append(self._part_added(where, part))
                # Every text delta of the item shares everything but the text and the
                # sequence number: serialised once, as the chat chunks' prefix is.
                head = {**where, "content_index": 0, "logprobs": []}
                head["type"] = "response.output_text.delta"
                self.text_prefix = (
                    b"event: response.output_text.delta\ndata: "
                    + orjson.dumps(head)[:-1]
                    + b',"delta":'
                )
            self.text.append(piece)
            frames.append(
                b'%s%s,"sequence_number":%d}\n\n'
                % (self.text_prefix, orjson.dumps(piece), self.seq)
            )
            self.seq += 1
        return frames

    @property
    def _refusal_index(self) -> int:
        """The refusal part's index in the message: after the text when there is one."""
        return 1 if self.text is not None else 0

    def _part_added(self, where: dict[str, Any], part: dict[str, Any]) -> bytes:
        index = self._refusal_index if part["type"] == "refusal" else 0
        return self._event(
            "response.content_part.added", {**where, "content_index": index, "part": part}
        )

    def _close_message(self) -> list[bytes]:
        if self.text is None and self.refusal is None:
            return []
        item_id = f"msg_{self.outcome.request_id}"
        where = {"item_id": item_id, "output_index": self.message_index}
        frames: list[bytes] = []
        text = "".join(self.text) if self.text is not None else None
        refusal = "".join(self.refusal) if self.refusal is not None else None
        if text is not None:
            frames.append(
                self._event(
                    "response.output_text.done",
                    {**where, "content_index": 0, "text": text, "logprobs": []},
                )
            )
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            frames.append(
                self._event(
                    "response.content_part.done", {**where, "content_index": 0, "part": part}
                )
            )
        if refusal is not None:
            index = self._refusal_index
            frames.append(
                self._event(
                    "response.refusal.done", {**where, "content_index": index, "refusal": refusal}
                )
            )
            part = {"type": "refusal", "refusal": refusal}
            frames.append(
                self._event(
                    "response.content_part.done", {**where, "content_index": index, "part": part}
                )
            )
        status, _ = response_status(self.finish)
        item = message_item(item_id, text, refusal, status)
        frames.append(
            self._event(
                "response.output_item.done", {"output_index": self.message_index, "item": item}
            )
        )
        self.output.append(item)
        self.text = self.refusal = None
        return frames

    def _tool_piece(self, piece: ToolCallDelta) -> list[bytes]:
        frames: list[bytes] = []
        current = self.calls.get(piece.index)
        if current is None:
            frames += self._close_message()
            frames += self._close_call()
            call = ToolCall(
                id=piece.id or f"call_{piece.index}", name=piece.name or "", arguments=""
            )
            item_id = f"fc_{self.outcome.request_id}_{piece.index}"
            current = _Call(item_id, len(self.output), call)
            self.calls[piece.index] = current
            self.open_call = current
            frames.append(
                self._event(
                    "response.output_item.added",
                    {
                        "output_index": current.output_index,
                        "item": function_call_item(item_id, call, "in_progress"),
                    },
                )
            )
        if piece.arguments:
            current.arguments.append(piece.arguments)
            frames.append(
                self._event(
                    "response.function_call_arguments.delta",
                    {
                        "item_id": current.item_id,
                        "output_index": current.output_index,
                        "delta": piece.arguments,
                    },
                )
            )
        return frames

    def _close_call(self) -> list[bytes]:
        current = self.open_call
        if current is None:
            return []
        self.open_call = None
        current.call.arguments = "".join(current.arguments)
        where = {"item_id": current.item_id, "output_index": current.output_index}
        item = function_call_item(current.item_id, current.call, "completed")
        self.output.append(item)
        return [
            self._event(
                "response.function_call_arguments.done",
                {**where, "arguments": current.call.arguments},
            ),
            self._event(
                "response.output_item.done", {"output_index": current.output_index, "item": item}
            ),
        ]
