"""A cached answer, as stored (compressed JSON) and as replayed (a response or deltas).

An answer is kept in the form it was produced in: a whole :class:`ChatResponse`, or the
:class:`StreamDelta` sequence of a stream, so that a streamed hit replays the streamed
miss chunk for chunk. Either form answers either kind of request: deltas fold into a
response (:func:`response_of`), a response unfolds into deltas (:func:`deltas_of`).
The surfaces render both exactly as they render a provider's, which is why a hit needs
no code in ``api/``.

Stored as orjson compressed with zlib at level 1 (text answers shrink 2-4x for a few
microseconds); the same bytes go to memory and to Redis, so the memory budget counts
what is really held.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from visiongate.core.messages import (
    ChatResponse,
    Choice,
    StreamDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "CachedAnswer",
    "decode",
    "deltas_of",
    "encode",
    "finish_reasons",
    "response_of",
]

_USAGE_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "image_tokens",
    "estimated",
)


@dataclass(slots=True)
class CachedAnswer:
    """An answer read back: exactly one of ``response`` and ``deltas`` is set.

    ``created`` (epoch seconds) lets a request's ``max-age`` refuse an older entry.
    """

    created: float
    usage: Usage
    upstream_model: str | None = None
    response: ChatResponse | None = None
    deltas: list[StreamDelta] | None = None

    def as_response(self) -> ChatResponse:
        """The whole answer, with the original usage. Each entry is decoded for the
        request that reads it, so what this returns is that request's to change."""
        response = self.response if self.response is not None else response_of(self.deltas or [])
        response.usage = self.usage
        response.upstream_model = self.upstream_model
        return response

    def as_deltas(self) -> list[StreamDelta]:
        """The answer's deltas, without the usage (the caller yields it last)."""
        if self.deltas is not None:
            return self.deltas
        return deltas_of(self.response or ChatResponse(choices=[]))


def encode(
    usage: Usage,
    upstream_model: str | None,
    response: ChatResponse | None = None,
    deltas: list[StreamDelta] | None = None,
) -> bytes:
    """The stored bytes of an answer (a whole response, or a stream's deltas)."""
    doc: dict[str, Any] = {
        "created": time.time(),
        "usage": _usage_doc(usage),
        "upstream_model": upstream_model,
    }
    if response is not None:
        doc["response"] = _response_doc(response)
    else:
        # Event for event, as the stream was sent (a joined delta as the ones it joins).
        doc["deltas"] = [_delta_doc(p) for d in deltas or () for p in d.each()]
    return zlib.compress(orjson.dumps(doc), 1)


def decode(blob: bytes) -> CachedAnswer:
    """Raises ValueError for bytes that are not an entry (a corrupt or foreign value)."""
    try:
        doc = orjson.loads(zlib.decompress(blob))
        answer = CachedAnswer(
            created=float(doc["created"]),
            usage=_usage_from(doc["usage"]),
            upstream_model=doc.get("upstream_model"),
        )
        if "response" in doc:
            answer.response = _response_from(doc["response"])
        else:
            answer.deltas = [_delta_from(d) for d in doc["deltas"]]
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an answer cache entry: {exc}") from exc
    return answer


def response_of(deltas: list[StreamDelta]) -> ChatResponse:
    """The whole answer a stream's deltas add up to (as a client's SDK folds them)."""
    choices: dict[int, Choice] = {}
    calls: dict[int, dict[int, ToolCall]] = {}
    for delta in deltas:
        choice = choices.get(delta.index)
        if choice is None:
            choice = choices[delta.index] = Choice(index=delta.index, finish_reason=None)
        if delta.content is not None:
            choice.content = (choice.content or "") + delta.content
        if delta.refusal is not None:
            choice.refusal = (choice.refusal or "") + delta.refusal
        for piece in delta.tool_calls or ():
            call = calls.setdefault(delta.index, {}).get(piece.index)
            if call is None:
                call = calls[delta.index][piece.index] = ToolCall(id="", name="", arguments="")
            call.id = piece.id or call.id
            call.name = piece.name or call.name
            call.arguments += piece.arguments or ""
        if delta.finish_reason is not None:
            choice.finish_reason = delta.finish_reason
        if delta.stop_sequence is not None:
            choice.stop_sequence = delta.stop_sequence
    for index, by_index in calls.items():
        choices[index].tool_calls = [by_index[i] for i in sorted(by_index)]
    return ChatResponse(choices=[choices[i] for i in sorted(choices)])


def deltas_of(response: ChatResponse) -> list[StreamDelta]:
    """A whole answer as the deltas a provider would have streamed: the role, the text
    in one piece, each tool call in one piece, then the finish reason."""
    out: list[StreamDelta] = []
    for choice in response.choices:
        i = choice.index
        out.append(StreamDelta(index=i, role="assistant"))
        if choice.refusal:
            out.append(StreamDelta(index=i, refusal=choice.refusal))
        if choice.content:
            out.append(StreamDelta(index=i, content=choice.content))
        for n, call in enumerate(choice.tool_calls or ()):
            piece = ToolCallDelta(index=n, id=call.id, name=call.name, arguments=call.arguments)
            out.append(StreamDelta(index=i, tool_calls=[piece]))
        out.append(
            StreamDelta(
                index=i,
                finish_reason=choice.finish_reason or "stop",
                stop_sequence=choice.stop_sequence,
            )
        )
    return out


def finish_reasons(response: ChatResponse | None, deltas: list[StreamDelta] | None) -> set[str]:
    """Every choice's finish reason; ``""`` for a choice that has none (cut short)."""
    if response is None:
        response = response_of(deltas or [])
    return {choice.finish_reason or "" for choice in response.choices} or {""}


# ------------------------------------------------------------------ to and from JSON


def _usage_doc(usage: Usage) -> dict[str, Any]:
    return {name: getattr(usage, name) for name in _USAGE_FIELDS}


def _usage_from(doc: dict[str, Any]) -> Usage:
    return Usage(**{name: doc[name] for name in _USAGE_FIELDS if name in doc})


def _calls_doc(calls: list[ToolCall] | None) -> list[list[str]] | None:
    return [[c.id, c.name, c.arguments] for c in calls] if calls else None


def _response_doc(response: ChatResponse) -> dict[str, Any]:
    return {
        "choices": [
            {
                "index": c.index,
                "content": c.content,
                "tool_calls": _calls_doc(c.tool_calls),
                "finish_reason": c.finish_reason,
                "refusal": c.refusal,
                "stop_sequence": c.stop_sequence,
            }
            for c in response.choices
        ],
        "system_fingerprint": response.system_fingerprint,
    }


def _response_from(doc: dict[str, Any]) -> ChatResponse:
    choices = [
        Choice(
            index=c["index"],
            content=c["content"],
            tool_calls=[ToolCall(id=i, name=n, arguments=a) for i, n, a in c["tool_calls"]]
            if c["tool_calls"]
            else None,
            finish_reason=c["finish_reason"],
            refusal=c["refusal"],
            stop_sequence=c["stop_sequence"],
        )
        for c in doc["choices"]
    ]
    return ChatResponse(choices=choices, system_fingerprint=doc.get("system_fingerprint"))


def _delta_doc(delta: StreamDelta) -> dict[str, Any]:
    doc: dict[str, Any] = {"index": delta.index}
    for name in ("role", "content", "refusal", "finish_reason", "stop_sequence"):
        value = getattr(delta, name)
        if value is not None:
            doc[name] = value
    if delta.tool_calls:
        doc["tool_calls"] = [[p.index, p.id, p.name, p.arguments] for p in delta.tool_calls]
    return doc


def _delta_from(doc: dict[str, Any]) -> StreamDelta:
    pieces = doc.get("tool_calls")
    return StreamDelta(
        index=doc["index"],
        role=doc.get("role"),
        content=doc.get("content"),
        refusal=doc.get("refusal"),
        finish_reason=doc.get("finish_reason"),
        stop_sequence=doc.get("stop_sequence"),
        tool_calls=[ToolCallDelta(index=i, id=d, name=n, arguments=a) for i, d, n, a in pieces]
        if pieces
        else None,
    )
