"""Upstream ``chat.completion.chunk`` events relayed with the members the gateway owns rewritten.

When the upstream speaks Chat Completions too, a text chunk says to the client exactly
what the gateway would render from it, except for what the gateway promises itself:
``id`` (``chatcmpl-<request id>``), ``created``, ``model`` (the id the client asked for),
``object``, and a ``usage`` member exactly when the client asked for usage. So the chunk's own
text is sent on with those members cut out and the gateway's put first, instead of being
parsed into a delta and serialised again: the serialising and the Python work per chunk
was most of what a 20-chunk stream cost over a bare pass-through (docs/performance.md).

The cut is one regular expression over the members that open the chunk (upstreams put
``id``, ``object``, ``created`` and ``model`` first) and, where the client did not ask
for usage, one over a ``"usage":null`` member. That is exact for valid JSON, which the
chunk is (the adapter parsed it): a ``"name":`` key pattern cannot occur inside a JSON
string, whose quotes are escaped. When an owned name is still found in what is left (an
upstream that orders its members otherwise, or a text that merely contains the name),
the chunk is parsed and serialised again instead (:meth:`Splicer._rebuilt`), so the
answer is the same either way, only slower.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["Splicer"]

_VALUE = r'(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|null|true|false)'
# The opening brace and the owned members right after it, each with the comma after it.
_LEADING = re.compile(r'\{\s*(?:"(?:id|object|created|model)"\s*:\s*' + _VALUE + r"\s*,\s*)*")
# A null usage member with the comma before it, or after it when it comes first.
_USAGE_NULL = re.compile(r'\s*,\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,\s*')
_OWNED_NAMES = ('"id"', '"object"', '"created"', '"model"')


class Splicer:
    """Rewrites the upstream chunks of one stream (:attr:`StreamDelta.chunks`) into its
    SSE frames. ``include_usage``: the client asked for usage, so every chunk has a
    ``usage`` member (null before the last chunk, as OpenAI sends it); else none has."""

    __slots__ = ("_head", "_include_usage", "_members", "_seen")

    def __init__(self, completion_id: str, model: str, created: int, include_usage: bool) -> None:
        self._members = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._head = orjson.dumps(self._members).decode()[:-1]  # without its closing brace
        self._include_usage = include_usage
        self._seen = ""  # how the last chunk cut by the expression opened (see chunk)

    def frames(self, chunks: list[str]) -> bytes:
        """The ``data:`` events for ``chunks``, the owned members rewritten."""
        return "".join(["data: " + self.chunk(text) + "\n\n" for text in chunks]).encode()

    def chunk(self, text: str) -> str:
        """One chunk's JSON text with the gateway's ``id``, ``object``, ``created`` and
        ``model`` first, in place of the upstream's."""
        text = text.strip()
        seen = self._seen
        if seen and text.startswith(seen):
            rest = text[len(seen) :]
        else:
            leading = _LEADING.match(text)
            if leading is None:
                return self._rebuilt(text)
            rest = text[leading.end() :]
            # Every chunk of a stream opens alike: later ones are cut by comparison.
            self._seen = text[: leading.end()]
        if self._include_usage:
            if '"usage"' not in rest:  # every chunk has one when usage was asked for
                rest = rest[:-1] + (',"usage":null}' if rest[:-1].strip() else '"usage":null}')
        elif '"usage"' in rest:
            rest = _without_null_usage(rest)
            if '"usage"' in rest:
                return self._rebuilt(text)
        for name in _OWNED_NAMES:
            if name in rest:
                return self._rebuilt(text)
        if rest[:1] == "}":
            return self._head + rest
        return self._head + "," + rest

    def _rebuilt(self, text: str) -> str:
        """The slow way, for a chunk laid out otherwise: parsed and serialised again."""
        data: dict[str, Any] = orjson.loads(text)
        if self._include_usage:
            data.setdefault("usage", None)
        else:
            data.pop("usage", None)
        for name in self._members:
            data.pop(name, None)
        return orjson.dumps(self._members | data).decode()


def _without_null_usage(rest: str) -> str:
    """``rest`` without its ``"usage":null`` member: found by comparison where it is
    written compactly (the usual case: OpenAI puts it near the end), else by expression."""
    at = rest.find(',"usage":null')
    if at >= 0 and rest[at + 13 : at + 14] in (",", "}"):
        return rest[:at] + rest[at + 13 :]
    return _USAGE_NULL.sub("", rest, count=1)
