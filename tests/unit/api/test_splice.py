"""Splicing upstream chunks: the result parses to the upstream chunk with the gateway's
owned members, whatever the spacing, escapes, member order or values; checked by golden
chunks and against the parse-and-serialise path on random chunks written many ways."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

import tests.support.fuzzing  # noqa: F401 - the shared hypothesis profiles
from visiongate.api.chat.splice import Splicer
from visiongate.core.messages import TextRun
from visiongate.providers.openai_shapes import TextChunkShape, text_of_openai_chunk

OWNED = {"id": "chatcmpl-rid", "object": "chat.completion.chunk", "created": 1700000000}


def expected(upstream: dict[str, Any], model: str, include_usage: bool) -> dict[str, Any]:
    out = {**upstream, **OWNED, "model": model}
    if include_usage:
        out.setdefault("usage", None)
    else:
        out.pop("usage", None)
    return out


def spliced(text: str, model: str = "gpt-4o", include_usage: bool = False) -> dict[str, Any]:
    splicer = Splicer("chatcmpl-rid", model, 1700000000, include_usage)
    out = splicer.chunk(text)
    frames = splicer.frames([text])
    assert frames == b"data: " + out.encode() + b"\n\n"
    return orjson.loads(out)


CHOICE = {"index": 0, "delta": {"content": 'caf\u00e9 "x"'}, "logprobs": None}
CHOICE["finish_reason"] = None
CHUNK = {
    "id": "up",
    "object": "chat.completion.chunk",
    "created": 7,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp",
    "choices": [CHOICE],
}


@pytest.mark.parametrize(
    "text",
    [
        orjson.dumps(CHUNK).decode(),
        json.dumps(CHUNK),  # ", " and ": " separators, \u escapes
        json.dumps(CHUNK, indent=2),
        json.dumps(CHUNK, ensure_ascii=False, separators=(" , ", " : ")),
        "  " + json.dumps({**CHUNK, "usage": None}) + " \r\n",
        json.dumps({"choices": [CHOICE], "model": 'a"b', "id": "z"}),  # owned after choices
        json.dumps({"model": 'gpt-"4o"\\', **CHUNK}),
        json.dumps({"choices": [CHOICE]}),  # nothing owned at all
        json.dumps({**CHUNK, "usage": None, "obfuscation": "q"}, separators=(",", ":")),
        json.dumps({"usage": None, **CHUNK}),
        json.dumps({"id": "[{", **CHUNK}),  # brackets inside an owned string
        json.dumps({**CHUNK, "choices": [{**CHOICE, "delta": {"content": '"id": 1, "model":'}}]}),
    ],
)
@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("model", ["gpt-4o", 'my "quoted" \\ model', "caf\u00e9"])
def test_owned_members_are_replaced_and_the_rest_kept(
    text: str, include_usage: bool, model: str
) -> None:
    out = spliced(text, model, include_usage)
    assert out == expected(json.loads(text), model, include_usage)
    assert list(out)[:4] == ["id", "object", "created", "model"]
    ChatCompletionChunk.model_validate(out)


def test_the_usual_chunk_keeps_its_own_text() -> None:
    """Spliced, not serialised again: the upstream's escapes and member order survive."""
    text = json.dumps({**CHUNK, "usage": None}, separators=(",", ":"))
    splicer = Splicer("chatcmpl-rid", "gpt-4o", 1700000000, include_usage=True)
    out = splicer.chunk(text)
    assert out.endswith(text[text.index(',"system_fingerprint"') :])
    assert "\\u00e9" in out
    assert splicer.chunk(text) == out  # the second one, cut by comparison


def test_a_null_usage_member_goes_unless_usage_was_asked_for() -> None:
    text = '{"id":"u","model":"m","choices":[],"usage":null,"x":1}'
    assert "usage" not in spliced(text)
    assert spliced(text, include_usage=True)["usage"] is None
    assert spliced('{"id":"u","choices":[]}', include_usage=True)["usage"] is None


_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=12)
_NAMES = st.sampled_from(["id", "object", "created", "model", "usage", "choices", "x", "ü"])


@given(
    members=st.lists(st.tuples(_NAMES, _SCALARS), max_size=8),
    content=st.text(max_size=20),
    ensure_ascii=st.booleans(),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")]),
    include_usage=st.booleans(),
)
def test_random_chunks_splice_like_they_parse(
    members: list[tuple[str, Any]],
    content: str,
    ensure_ascii: bool,
    separators: tuple[str, str],
    include_usage: bool,
) -> None:
    chunk: dict[str, Any] = dict(members)
    chunk["choices"] = [{"index": 0, "delta": {"content": content}}]
    if "usage" in chunk:
        chunk["usage"] = None  # a text chunk's usage is null (others are not relayed)
    text = json.dumps(chunk, ensure_ascii=ensure_ascii, separators=separators)
    assert spliced(text, 'm"\\', include_usage) == expected(chunk, 'm"\\', include_usage)


def _run_of(texts: list[str], pad: list[str] | None, upstream_head: dict[str, Any]) -> TextRun:
    """A run of OpenAI-style text chunks as the adapter reads it (TextChunkShape)."""

    def one(text: str, i: int) -> str:
        choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        body: dict[str, Any] = {**upstream_head, "choices": [choice], "usage": None}
        if pad is not None:
            body["obfuscation"] = pad[i]
        return orjson.dumps(body).decode()

    first = one("Hello", 0)
    delta = text_of_openai_chunk(orjson.loads(first))
    assert delta is not None
    shape = TextChunkShape.learn(first, delta)
    assert shape is not None
    run = shape.run([f"data: {one(t, i)}" for i, t in enumerate(texts)], 0)
    assert run is not None and run.texts == texts
    return run


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("model", ["gpt-4o", 'my "quoted" \\ model', "caf\u00e9"])
@pytest.mark.parametrize("padded", [False, True])
def test_a_run_is_spliced_as_its_chunks_are_one_by_one(
    include_usage: bool, model: str, padded: bool
) -> None:
    texts = ["Hel", "lo", "", " wor", "ld."]
    pad = ["a", "", "Zq9", "x" * 12, "b"] if padded else None
    run = _run_of(texts, pad, {k: v for k, v in CHUNK.items() if k != "choices"})
    splicer = Splicer("chatcmpl-rid", model, 1700000000, include_usage)
    at_once = splicer.frames([run])
    assert splicer._runs[(run.head, run.tail)]  # replaced over the run, not chunk by chunk
    one_by_one = Splicer("chatcmpl-rid", model, 1700000000, include_usage).frames(run.chunks())
    assert at_once == one_by_one
    for frame, text in zip(at_once.decode()[:-2].split("\n\n"), texts, strict=True):
        parsed = ChatCompletionChunk.model_validate_json(frame.removeprefix("data: "))
        assert parsed.id == "chatcmpl-rid" and parsed.model == model
        assert parsed.choices[0].delta.content == text
        assert ("usage" in orjson.loads(frame[6:])) is include_usage


def test_a_run_mixed_with_single_chunks_keeps_their_order() -> None:
    run = _run_of(["b", "c"], None, {"id": "up", "model": "m"})
    single = json.dumps({"id": "up", "model": "m", "choices": [CHOICE]})
    frames = Splicer("chatcmpl-rid", "gpt-4o", 1, False).frames([single, run, single])
    contents = [
        orjson.loads(f[6:])["choices"][0]["delta"]["content"]
        for f in frames.decode()[:-2].split("\n\n")
    ]
    assert contents == [CHOICE["delta"]["content"], "b", "c", CHOICE["delta"]["content"]]


@given(st.lists(st.text(max_size=12), min_size=1, max_size=8), st.booleans(), st.text(max_size=20))
def test_random_runs_splice_like_their_chunks(
    texts: list[str], include_usage: bool, model: str
) -> None:
    """Any texts, quotes, backslashes and control characters (escaped) among them."""
    run = _run_of(texts, None, {"id": "up", "object": "chat.completion.chunk", "created": 3})
    splicer = Splicer("chatcmpl-r", model, 5, include_usage)
    at_once = splicer.frames([run])
    assert splicer._runs[(run.head, run.tail)]
    one_by_one = Splicer("chatcmpl-r", model, 5, include_usage).frames(run.chunks())
    assert at_once == one_by_one
