"""TextChunkShape: a run of text chunks written like a parsed one is read without parsing
them, and only such a run; cross-checked against orjson on random texts."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

import tests.support.fuzzing  # noqa: F401 - the shared hypothesis profiles
from visiongate.providers.openai_shapes import TextChunkShape, text_of_openai_chunk

HEAD = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'


def chunk(content: str, pad: str | None = None, head: str = HEAD, **delta: object) -> str:
    choice = {"index": 0, "delta": {"content": content, **delta}, "finish_reason": None}
    padding = "" if pad is None else ',"obfuscation":' + json.dumps(pad)
    return head + orjson.dumps([choice]).decode() + ',"usage":null' + padding + "}"


def sse(*chunks: str) -> str:
    return "".join(f"data: {c}\n\n" for c in chunks)


def blocks(text: str) -> list[str]:
    """The events of ``text`` as the SSE splitter hands them over (SseSplitter.feed_blocks)."""
    return text.split("\n\n")[:-1]


def shape_of(text: str) -> TextChunkShape | None:
    delta = text_of_openai_chunk(orjson.loads(text))
    assert delta is not None
    return TextChunkShape.learn(text, delta)


def texts(shape: TextChunkShape, text: str, at: int = 0) -> list[str] | None:
    """The texts of the run at the ``at``-th event of ``text``; its events as received."""
    events = blocks(text)
    run = shape.run(events, at)
    if run is None:
        return None
    assert run.raw == "".join(e + "\n\n" for e in events[at : at + len(run.texts)])
    return run.texts


def test_a_run_of_chunks_written_alike_is_read_at_once() -> None:
    shape = shape_of(chunk("Hello "))
    assert shape is not None and shape.index == 0 and shape.model == "m"
    events = sse(chunk("world"), chunk(""), chunk(", again"))
    assert texts(shape, events) == ["world", "", ", again"]
    done = "data: [DONE]\n\n"
    assert texts(shape, done + events, 1) == ["world", "", ", again"]


def test_texts_with_escapes_are_read_in_the_run_and_decoded() -> None:
    shape = shape_of(chunk("Hello "))
    assert shape is not None
    escaped = chunk("caf\u00e9").replace("\u00e9", "\\u00e9")
    events = sse(chunk('say "hi"'), escaped, chunk("two\nlines\t\\"), chunk("\U0001f642"))
    assert texts(shape, events) == ['say "hi"', "caf\u00e9", "two\nlines\t\\", "\U0001f642"]


def test_a_run_ends_at_the_first_event_written_otherwise() -> None:
    shape = shape_of(chunk("Hello "))
    assert shape is not None
    ending = [
        chunk("x", role="assistant"),  # more than text
        chunk("x").replace('"model":"m"', '"model":"n"'),
        chunk("x").replace('"id":"c"', '"id":"d"'),  # another stream's
        json.dumps(orjson.loads(chunk("x"))),  # spaced otherwise
        chunk("x").replace('"x"', '"a"b"'),  # not JSON: a bare quote
        chunk("x").replace('"x"', '"a\\qb"'),  # not JSON: no such escape
        chunk("x").replace('"x"', '"a\tb"'),  # not JSON: a bare control character
        '{"choices":[],"usage":{"prompt_tokens":1}}',
    ]
    for other in ending:
        assert texts(shape, sse(chunk("a"), other, chunk("b"))) == ["a"], other
        assert texts(shape, sse(chunk("a"), chunk("b"), other)) == ["a", "b"], other
        assert shape.run(blocks(sse(other)), 0) is None, other
    assert texts(shape, "data: " + chunk("a") + "\n\n:keep-alive\n\n") == ["a"]
    assert shape.run(["data:" + chunk("a")], 0) is None  # read by the SSE parser


def test_padding_may_differ_from_chunk_to_chunk() -> None:
    shape = shape_of(chunk("Hello ", pad="Zx9"))
    assert shape is not None and shape.obfuscated is not None
    events = sse(chunk("world", pad=""), chunk('"!"', pad="abcdefgh"))
    assert texts(shape, events) == ["world", '"!"']
    assert shape.run(blocks(sse(chunk("world"))), 0) is None  # without padding: another shape
    assert shape.run(blocks(sse(chunk("world", pad='a"b'))), 0) is None
    assert texts(shape, sse(chunk("a", pad="p"), chunk("b", pad="a\\b"))) == ["a"]


def test_no_shape_where_the_text_cannot_mark_the_string() -> None:
    assert shape_of(chunk("")) is None
    assert shape_of(chunk("m")) is None  # "m" is also the model's string
    assert shape_of(chunk('a "b"')) is None
    assert shape_of(chunk("x", role="assistant")) is None
    assert shape_of(chunk("x", pad='q"')) is None


@given(
    st.text(min_size=1, max_size=30),
    st.lists(st.tuples(st.text(max_size=30), st.none() | st.text(max_size=8)), max_size=6),
    st.none() | st.text(max_size=8),
)
def test_read_by_shape_is_what_parsing_reads(
    first: str, later: list[tuple[str, str | None]], pad: str | None
) -> None:
    learnt = chunk(first, pad=pad)
    delta = text_of_openai_chunk(orjson.loads(learnt))
    assert delta is not None
    shape = TextChunkShape.learn(learnt, delta)
    if shape is None:
        return
    events = [chunk(text, pad=p) for text, p in later]

    def fits(p: str | None) -> bool:  # padded alike, with a padding written plainly
        return p is None if pad is None else p is not None and "\\" not in json.dumps(p)

    alike = next((i for i, (_, p) in enumerate(later) if not fits(p)), len(later))
    run = shape.run(blocks(sse(*events)), 0) if events else None
    assert (0 if run is None else len(run.texts)) == alike  # every event alike, no other
    if run is None:
        return
    assert run.raw == sse(*events[:alike])
    for event, known in zip(events, run.texts, strict=False):
        parsed = text_of_openai_chunk(orjson.loads(event))
        assert parsed is not None and parsed.content == known
