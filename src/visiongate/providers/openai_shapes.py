"""OpenAI's answer shapes read into the internal model, and the helpers around them.

Pure functions without I/O. :func:`from_openai_response` and :func:`from_openai_chunk`
map a ``chat.completion`` body and a ``chat.completion.chunk`` event for the OpenAI
adapter (``providers/openai.py``, which holds the request direction). The small helpers
are shared: the gateway answers in OpenAI's format whatever the upstream, so every
adapter normalises finish reasons, reads usage, or moves tool-call arguments between
JSON text (OpenAI's form) and a JSON object (Anthropic's and Gemini's form).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import repeat
from operator import getitem
from typing import Any, Literal

import orjson

from visiongate.core.messages import (
    ChatResponse,
    Choice,
    FinishReason,
    StreamDelta,
    TextRun,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from visiongate.errors import InvalidRequest, UpstreamError

__all__ = [
    "TextChunkShape",
    "finish_reason_from_openai",
    "from_openai_chunk",
    "from_openai_response",
    "parse_tool_arguments",
    "text_of_openai_chunk",
    "tool_arguments_text",
    "tool_choice_to_openai",
    "tool_spec_to_openai",
    "usage_from_openai",
]

# Values seen from OpenAI and the OpenAI-compatible hosts (Together's "eos", vLLM's
# "abort", OpenAI's deprecated "function_call"), folded onto OpenAI's four.
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason_from_openai(value: object) -> FinishReason | None:
    """OpenAI's ``finish_reason`` for an upstream one; None stays None (not finished yet).

    Unknown values become ``"stop"``: the answer did end, and clients only know the four.
    """
    if value is None:
        return None
    return _FINISH_REASONS.get(str(value).lower(), "stop")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_openai(raw: object) -> Usage | None:
    """A :class:`Usage` from an OpenAI ``usage`` object (None when there is none).

    Reads ``prompt_tokens_details.cached_tokens``. Hosts that only report
    ``total_tokens`` (older MiniMax answers) get the rest counted as prompt tokens.
    """
    if not isinstance(raw, Mapping):
        return None
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    total = _int(raw.get("total_tokens"))
    if total and not prompt and "prompt_tokens" not in raw:
        prompt = max(total - completion, 0)
    details = raw.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached)


def tool_spec_to_openai(tool: ToolSpec) -> dict[str, Any]:
    """A ``{"type": "function", "function": {...}}`` tool, leaving out what was not given."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_to_openai(choice: str) -> str | dict[str, Any]:
    """``auto``/``none``/``required`` as they are; any other value names one function."""
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def parse_tool_arguments(text: str, param: str) -> dict[str, Any]:
    """The JSON object in a tool call's ``arguments`` text, for APIs that take an object.

    Raises InvalidRequest naming ``param`` when the client sent arguments that are not a
    JSON object: an upstream would refuse them with a less helpful message.
    """
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            "tool call arguments must be a JSON object in a string", param=param
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param=param)
    return value


def tool_arguments_text(value: object) -> str:
    """OpenAI's ``arguments`` string for arguments an upstream gave as an object (or text)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return orjson.dumps(value).decode()


# ---------------------------------------------------------------- answers


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _index(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _content_text(value: object, provider: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if not (isinstance(part, Mapping) and part.get("type") == "text"):
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise UpstreamError(
                    f"{provider} answered with {kind!r} content the gateway cannot relay"
                )
            texts.append(str(part.get("text") or ""))
        return "".join(texts)
    raise UpstreamError(f"{provider} answered with content of an unknown shape")


def _tool_calls(message: Mapping[str, Any], position: int, provider: str) -> list[ToolCall]:
    calls: list[ToolCall] = []
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise UpstreamError(f"{provider} answered with tool_calls that are not a list")
    for i, raw in enumerate(raw_calls):
        if not isinstance(raw, Mapping) or raw.get("type", "function") != "function":
            raise UpstreamError(f"{provider} answered with a tool call the gateway cannot relay")
        function = raw.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise UpstreamError(f"{provider} answered with a tool call without a function name")
        calls.append(
            ToolCall(
                id=_str(raw.get("id")) or f"call_{position}_{i}",
                name=function["name"],
                arguments=tool_arguments_text(function.get("arguments")),
            )
        )
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping) and isinstance(legacy.get("name"), str):
        calls.append(
            ToolCall(
                id=f"call_{position}_{len(calls)}",
                name=legacy["name"],
                arguments=tool_arguments_text(legacy.get("arguments")),
            )
        )
    return calls


def _choice_from_openai(raw: object, position: int, provider: str) -> Choice:
    message = raw.get("message") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or not isinstance(message, Mapping):
        raise UpstreamError(f"{provider} answered with a choice without a message")
    tool_calls = _tool_calls(message, position, provider)
    return Choice(
        index=_index(raw.get("index"), position),
        content=_content_text(message.get("content"), provider),
        tool_calls=tool_calls or None,
        finish_reason=finish_reason_from_openai(raw.get("finish_reason")) or "stop",
        refusal=_str(message.get("refusal")),
    )


def from_openai_response(data: Mapping[str, Any], provider: str = "upstream") -> ChatResponse:
    """A :class:`ChatResponse` from a ``chat.completion`` body.

    Finish reasons are normalised (``function_call`` → ``tool_calls``, unknown → ``stop``),
    a legacy ``function_call`` becomes a tool call, and usage keeps cached prompt
    tokens. Raises UpstreamError for a body without choices or with content it cannot
    relay, rather than returning an empty answer.
    """
    raw_choices = data.get("choices")
    if not isinstance(raw_choices, list) or not raw_choices:
        raise UpstreamError(f"{provider} answered without any choices")
    return ChatResponse(
        choices=[_choice_from_openai(raw, i, provider) for i, raw in enumerate(raw_choices)],
        usage=usage_from_openai(data.get("usage")),
        upstream_model=_str(data.get("model")),
        upstream_id=_str(data.get("id")),
        system_fingerprint=_str(data.get("system_fingerprint")),
    )


def _tool_call_deltas(delta: Mapping[str, Any], position: int) -> list[ToolCallDelta]:
    out: list[ToolCallDelta] = []
    for i, raw in enumerate(delta.get("tool_calls") or ()):
        if not isinstance(raw, Mapping):
            continue
        found = raw.get("function")
        function: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        arguments = function.get("arguments")
        out.append(
            ToolCallDelta(
                index=_index(raw.get("index"), i),
                id=_str(raw.get("id")),
                name=_str(function.get("name")),
                arguments=None if arguments is None else tool_arguments_text(arguments),
            )
        )
    legacy = delta.get("function_call")
    if isinstance(legacy, Mapping):
        name = _str(legacy.get("name"))
        out.append(
            ToolCallDelta(
                index=0,
                id=f"call_{position}_0" if name else None,
                name=name,
                arguments=_str(legacy.get("arguments")),
            )
        )
    return out


def _chunk_choice(raw: dict[str, Any], position: int, model: str | None) -> StreamDelta | None:
    # Runs for every event of every stream: exact ``dict``/``str`` checks (what orjson
    # produces) instead of ABC ``isinstance``, and tool calls only looked for when present.
    delta = raw.get("delta")
    if type(delta) is not dict:
        delta = {}
    content = delta.get("content")
    if type(content) is not str:
        content = None
    refusal = delta.get("refusal")
    if type(refusal) is not str:
        refusal = None
    tool_calls = (
        _tool_call_deltas(delta, position)
        if "tool_calls" in delta or "function_call" in delta
        else None
    )
    role: Literal["assistant"] | None = "assistant" if delta.get("role") == "assistant" else None
    finish = finish_reason_from_openai(raw.get("finish_reason"))
    if not (role or content or refusal or tool_calls or finish):
        return None
    index = raw.get("index")
    return StreamDelta(
        index=index if type(index) is int else position,
        role=role,
        content=content or None,
        refusal=refusal or None,
        tool_calls=tool_calls or None,
        finish_reason=finish,
        upstream_model=model,
    )


def from_openai_chunk(
    data: Mapping[str, Any], *, final_repeats_message: bool = False
) -> list[StreamDelta]:
    """The deltas in one ``chat.completion.chunk``: one per choice that says something,
    and a last one carrying only ``usage`` when the chunk reports it.

    With ``final_repeats_message`` (MiniMax), a ``chat.completion`` object in the stream
    repeats the whole answer: only its finish reasons and usage are taken, so the text
    is not sent twice.
    """
    model = data.get("model")
    if type(model) is not str:
        model = None
    raw_choices = data.get("choices")
    deltas: list[StreamDelta] = []
    for position, raw in enumerate(raw_choices if type(raw_choices) is list else ()):
        if type(raw) is not dict:
            continue
        if final_repeats_message and data.get("object") == "chat.completion":
            finish = finish_reason_from_openai(raw.get("finish_reason")) or "stop"
            index = _index(raw.get("index"), position)
            deltas.append(StreamDelta(index=index, finish_reason=finish, upstream_model=model))
            continue
        delta = _chunk_choice(raw, position, model)
        if delta is not None:
            deltas.append(delta)
    raw_usage = data.get("usage")
    usage = usage_from_openai(raw_usage) if raw_usage is not None else None
    if usage is not None:
        deltas.append(StreamDelta(usage=usage, upstream_model=model))
    return deltas


def text_of_openai_chunk(data: dict[str, Any]) -> StreamDelta | None:
    """The delta of a ``chat.completion.chunk`` that carries nothing but text (or the
    role) for one choice; None for any other chunk, which :func:`from_openai_chunk` maps.

    Nothing else means: no finish reason, usage, error, refusal or tool call, no member
    the gateway would not relay (a ``reasoning_content``), and no value it would change
    (a role other than ``assistant``). Members that are null say nothing and are
    allowed. Such a chunk may be forwarded as it is to a Chat Completions client, with
    only the members the gateway owns rewritten: the frame rendered from its delta would
    say the same (``api/chat/splice.py``). An empty ``content`` stays ``""``, as sent.
    """
    if data.get("usage") is not None or data.get("error") is not None:
        return None
    kind = data.get("object")
    if kind is not None and kind != "chat.completion.chunk":
        return None
    choices = data.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict:
        return None
    index = choice.get("index")
    delta = choice.get("delta")
    if type(index) is not int or type(delta) is not dict:
        return None
    for key, value in choice.items():
        if value is not None and key != "index" and key != "delta":
            return None
    text: str | None = None
    role: Literal["assistant"] | None = None
    for key, value in delta.items():
        if value is None:
            continue
        if key == "content" and type(value) is str:
            text = value
        elif key == "role" and value == "assistant":
            role = "assistant"
        else:
            return None
    model = data.get("model")
    return StreamDelta(
        index=index, role=role, content=text, upstream_model=model if type(model) is str else None
    )


# A JSON string body that needs no decoding: no quote, backslash or control character.
_NOT_PLAIN = re.compile(r'["\\\x00-\x1f]')
# The member OpenAI pads every stream chunk with (a different random string each time),
# unless the request sets ``stream_options.include_obfuscation`` to false.
_OBFUSCATION = ',"obfuscation":"'


class TextChunkShape:
    """How one upstream writes the text chunks of a stream, learnt from one that was
    parsed: the text before the content string (``head``) and after it (``tail``, where
    an ``obfuscation`` value, when there is one, differs from chunk to chunk).

    Later events that are each ``data: `` + that head + a JSON string body + that tail
    parse as the learnt chunk with only its text (and padding) changed, so a run of them
    is read by :meth:`run` without a Python step per event: the read is split into events
    and each is checked and cut by ``map`` over the list (C calls, no Python frames),
    their texts decoded as one JSON array. No regular expression and no long needle
    searched for: ``re`` spent about 28 instructions a character on a 20-chunk run, and
    ``str.split`` on a 200-character separator prepares the needle at every call
    (docs/performance.md).
    """

    __slots__ = (
        "_before_pad",
        "_between",
        "_cut",
        "_data_head",
        "_end",
        "_shortest",
        "head",
        "index",
        "model",
        "tail",
    )

    def __init__(self, head: str, tail: str, index: int, model: str | None) -> None:
        self.head = head
        self.tail = tail
        self.index = index
        self.model = model
        self._data_head = "data: " + head
        at = tail.find(_OBFUSCATION)
        if at < 0:
            self._before_pad: str | None = None
            self._end = tail
        else:
            value = at + len(_OBFUSCATION)
            self._before_pad = tail[:value]
            self._end = tail[tail.index('"', value) :]
        # An event's body, out of the event; what comes between two bodies in a run.
        self._cut = slice(len(self._data_head), -len(self._end))
        self._between = self._end + "\n\n" + self._data_head
        # Long enough to hold the head and the end apart, not overlapping.
        self._shortest = len(self._data_head) + len(self._end)

    @property
    def obfuscated(self) -> int | None:
        """Where the padding's value starts in ``tail``, when the chunks are padded."""
        return None if self._before_pad is None else len(self._before_pad)

    @classmethod
    def learn(cls, text: str, delta: StreamDelta) -> TextChunkShape | None:
        """The shape of ``text``, the chunk :func:`text_of_openai_chunk` made ``delta`` of;
        None when its text cannot mark where the content string is (empty, escaped, or
        found more than once), or when the chunk spans lines."""
        content = delta.content
        if delta.role or not content or _NOT_PLAIN.search(content) or "\n" in text:
            return None
        literal = '"' + content + '"'
        at = text.find(literal)
        if at < 0 or text.find(literal, at + 1) >= 0:
            return None
        end = at + len(literal) - 1
        tail = text[end:]
        padding = tail.find(_OBFUSCATION)
        if padding >= 0:  # the padding's value must be plain, to be told from the rest
            start = padding + len(_OBFUSCATION)
            value_end = tail.find('"', start)
            if value_end < 0 or _NOT_PLAIN.search(tail, start, value_end):
                return None
        return cls(text[: at + 1], tail, delta.index, delta.upstream_model)

    def run(self, events: list[str], at: int) -> TextRun | None:
        """The run of events of this shape that starts at ``events[at]`` (the SSE blocks
        of a read, split on their blank lines), or None when that event is not one."""
        head = self._data_head
        if not events[at].startswith(head):
            return None
        if at == len(events) - 1:  # the last event of the read: alone, as tokens come
            event = events[at]
            if not event.endswith(self._end) or len(event) < self._shortest:
                return None
            alone = [event[self._cut]]
            text = self._texts(alone)
            if text is None:
                return None
            return TextRun(self.head, self.tail, self.obfuscated, self._end, alone, text)
        events = events[at:]
        # The events that open like this shape's (the finish, the usage, [DONE] do not),
        # cut to their bodies and put together again: when that gives the events back,
        # each of them is the head, its body and the end, checked by one comparison.
        opens = list(map(str.startswith, events, repeat(head)))
        if False in opens:
            del events[opens.index(False) :]
        bodies: list[str] = list(map(getitem, events, repeat(self._cut)))
        if head + self._between.join(bodies) + self._end != "\n\n".join(events):
            bodies = self._alike(events)  # some event is not: the slow way
        texts = self._texts(bodies) if bodies else None
        if texts is None:  # some event is written otherwise: the run ends before it
            texts = []
            for body in bodies:
                one = self._texts([body])
                if one is None:
                    break
                texts += one
            if not texts:
                return None
            del bodies[len(texts) :]
        return TextRun(self.head, self.tail, self.obfuscated, self._end, bodies, texts)

    def _alike(self, events: list[str]) -> list[str]:
        """The bodies of the events (each opening with this shape's head) up to the first
        that is not the head, a body and the end, each event checked on its own."""
        alike = list(map(str.endswith, events, repeat(self._end)))
        if False in alike:
            del events[alike.index(False) :]
        if events:
            shortest = self._shortest
            lengths = list(map(len, events))
            if min(lengths) < shortest:
                del events[next(i for i, n in enumerate(lengths) if n < shortest) :]
        return list(map(getitem, events, repeat(self._cut)))

    def _texts(self, bodies: list[str]) -> list[str] | None:
        """The texts of ``bodies`` decoded, when each is the body of an event of this
        shape (a JSON string body, and its padding); else None."""
        before_pad = self._before_pad
        if before_pad is not None:
            # body + the tail up to the padding + padding, once each: cut all at once
            # (neither holds a NUL, which a JSON string escapes).
            if list(map(str.count, bodies, repeat(before_pad))).count(1) != len(bodies):
                return None
            cut = "\x00".join(bodies).replace(before_pad, "\x00").split("\x00")
            pads = "".join(cut[1::2])
            if '"' in pads or "\\" in pads or "\n" in pads:
                return None
            bodies = cut[0::2]
        joined = '","'.join(bodies)
        if "\n" in joined:  # an SSE event of more than one line
            return None
        try:
            texts = orjson.loads('["' + joined + '"]')
        except orjson.JSONDecodeError:
            return None
        # A body with a bare quote in it would have made more strings, or fewer.
        return texts if len(texts) == len(bodies) else None
