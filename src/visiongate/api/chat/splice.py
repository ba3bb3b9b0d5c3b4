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

from visiongate.core.messages import TextRun

__all__ = ["Splicer"]

_VALUE = r'(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|null|true|false)'
# The opening brace and the owned members right after it, each with the comma after it.
_LEADING = re.compile(r'\{\s*(?:"(?:id|object|created|model)"\s*:\s*' + _VALUE + r"\s*,\s*)*")
# The same, as OpenAI writes them (compact, in this order, values without escapes): tried
# first, as matching it costs a sixth of the general expression's time.
_COMPACT_LEADING = re.compile(
    r'\{"id":"[^"\\]*","object":"chat\.completion\.chunk","created":\d+,"model":"[^"\\]*",'
)
# A null usage member with the comma before it, or after it when it comes first.
_USAGE_NULL = re.compile(r'\s*,\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,\s*')
_OWNED_NAMES = ('"id"', '"object"', '"created"', '"model"')


class Splicer:
    """Rewrites the upstream chunks of one stream (:attr:`StreamDelta.chunks`) into its
    SSE frames. ``include_usage``: the client asked for usage, so every chunk has a
    ``usage`` member (null before the last chunk, as OpenAI sends it); else none has."""

    __slots__ = ("_head", "_include_usage", "_members", "_runs", "_seen")

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
        # Per shape of run (head, tail): how its events are spliced (run), or None where
        # that cannot be done by joining.
        self._runs: dict[tuple[str, str], tuple[str, str, str, tuple[str, str] | None] | None] = {}

    def frames(self, chunks: list[str | TextRun]) -> bytes:
        """The ``data:`` events for ``chunks``, the owned members rewritten."""
        out = []
        for c in chunks:
            out.append(self.run(c) if isinstance(c, TextRun) else "data: " + self.chunk(c) + "\n\n")
        return "".join(out).encode()

    def run(self, run: TextRun) -> str:
        """The events of ``run`` spliced: every event of a run is the same head and tail
        around its own body, so what :meth:`chunk` does to one it does to all, and the
        bodies joined between the spliced head and tail do it at once."""
        key = (run.head, run.tail)
        if key in self._runs:
            parts = self._runs[key]
        else:
            parts = self._runs[key] = self._run_parts(run)
        if parts is not None:
            head, between, end, padding = parts
            inner = between.join(run.bodies)
            if padding is None:
                return head + inner + end
            old, new = padding  # the tail before the padding changed (its usage member)
            if inner.count(old) == len(run.bodies):
                return head + inner.replace(old, new) + end
        return "".join(["data: " + self.chunk(c) + "\n\n" for c in run.chunks()])

    def _run_parts(self, run: TextRun) -> tuple[str, str, str, tuple[str, str] | None] | None:
        """(the first event's spliced head, what goes between two bodies, the last
        event's end, and for padded chunks the tail before the padding and what it becomes
        when they differ): found by splicing one event with marks in place of its text and
        padding and cutting the result at the marks. None when that cannot be done."""
        text_mark, pad_mark = "\u2063vg-text\u2063", "\u2063vg-pad\u2063"
        head, tail = run.head, run.tail
        if run.obfuscated is not None:
            value_end = tail.index('"', run.obfuscated)
            tail = tail[: run.obfuscated] + pad_mark + tail[value_end:]
        spliced = self.chunk(head + text_mark + tail)
        if spliced.count(text_mark) != 1 or spliced.count(pad_mark) != (run.obfuscated is not None):
            return None
        new_head, new_tail = spliced.split(text_mark)
        padding = None
        if run.obfuscated is not None:
            old_before = tail.split(pad_mark)[0]
            new_before, new_tail = new_tail.split(pad_mark)
            if new_before != old_before:
                padding = (old_before, new_before)
        end = new_tail + "\n\n"
        return "data: " + new_head, end + "data: " + new_head, end, padding

    def chunk(self, text: str) -> str:
        """One chunk's JSON text with the gateway's ``id``, ``object``, ``created`` and
        ``model`` first, in place of the upstream's."""
        text = text.strip()
        seen = self._seen
        if seen and text.startswith(seen):
            rest = text[len(seen) :]
        else:
            leading = _COMPACT_LEADING.match(text) or _LEADING.match(text)
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
