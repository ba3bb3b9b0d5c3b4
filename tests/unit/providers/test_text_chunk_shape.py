"""TextChunkShape: a text chunk written like a parsed one is read without parsing, and
only then; cross-checked against orjson on random texts."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

import tests.support.fuzzing  # noqa: F401 - the shared hypothesis profiles
from visiongate.providers.openai_shapes import TextChunkShape, text_of_openai_chunk

HEAD = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'


def chunk(content: str, **delta: object) -> str:
    choice = {"index": 0, "delta": {"content": content, **delta}, "finish_reason": None}
    return HEAD + orjson.dumps([choice]).decode() + "}"


def shape_of(text: str) -> TextChunkShape | None:
    delta = text_of_openai_chunk(orjson.loads(text))
    assert delta is not None
    return TextChunkShape.learn(text, delta)


def test_a_chunk_written_alike_is_read_by_its_shape() -> None:
    shape = shape_of(chunk("Hello "))
    assert shape is not None and shape.index == 0 and shape.model == "m"
    assert shape.text(chunk("world")) == "world"
    assert shape.text(chunk("")) == ""


def test_anything_else_is_left_to_the_parser() -> None:
    shape = shape_of(chunk("Hello "))
    assert shape is not None
    assert shape.text(chunk('say "hi"')) is None  # escapes: the parser decodes them
    assert shape.text(chunk("caf\u00e9").replace("\u00e9", "\\u00e9")) is None
    assert shape.text(chunk("two\nlines")) is None
    assert shape.text(chunk("x", role="assistant")) is None  # more than text
    assert shape.text(chunk("x").replace('"model":"m"', '"model":"n"')) is None
    assert shape.text(json.dumps(orjson.loads(chunk("x")))) is None  # spaced otherwise


def test_no_shape_where_the_text_cannot_mark_the_string() -> None:
    assert shape_of(chunk("")) is None
    assert shape_of(chunk("m")) is None  # "m" is also the model's string
    assert shape_of(chunk('a "b"')) is None
    assert shape_of(chunk("x", role="assistant")) is None


@given(st.text(min_size=1, max_size=30), st.text(max_size=30))
def test_read_by_shape_is_what_parsing_reads(first: str, later: str) -> None:
    learnt = chunk(first)
    delta = text_of_openai_chunk(orjson.loads(learnt))
    assert delta is not None
    shape = TextChunkShape.learn(learnt, delta)
    text = chunk(later)
    known = shape.text(text) if shape is not None else None
    if known is not None:
        parsed = text_of_openai_chunk(orjson.loads(text))
        assert parsed is not None and parsed.content == known == later
