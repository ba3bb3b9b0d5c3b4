"""Chunks relayed from an OpenAI-format upstream, end to end: the members the gateway owns
(``id``, ``object``, ``created``, ``model``, ``usage`` unless asked for) are rewritten in
whatever form the upstream wrote them, the rest of each chunk arrives as the upstream
sent it, and events split across network reads come out whole. The upstream writes exact
bytes in separate pieces (``tests/fakes/scripted_stream.py``); the client is the official
openai SDK, with raw HTTP where the bytes themselves are the point."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator

import openai
import orjson
import pytest
import requests

from tests.fakes.scripted_stream import ScriptedStream
from tests.support.clients import anthropic_client
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.usage import usage_rows
from tests.support.wire import sse_events

pytestmark = pytest.mark.timeout(120)

QUOTED = 'vision "beta" \\ 2'  # a model id with quotes and a backslash
CONFIG = """
[models.'vision "beta" \\ 2']
like = "gpt-4o"
upstream = "gpt-4o"
"""
HEAD = (
    '"id":"chatcmpl-upstream-9","object":"chat.completion.chunk","created":7,'
    '"model":"gpt-4o-2024-08-06"'
)
USAGE = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}


def compact(text: str | None, *, role: bool = False, finish: str | None = None) -> str:
    """A chunk as OpenAI writes it with ``include_usage`` on: usage null, then more."""
    delta: dict[str, object] = {"role": "assistant"} if role else {}
    if text is not None:
        delta["content"] = text
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    rest = orjson.dumps({"system_fingerprint": "fp_up", "choices": [choice]}).decode()[1:-1]
    return "{" + HEAD + "," + rest + ',"usage":null,"obfuscation":"Zx"}'


def spaced(content_json: str) -> str:
    """A chunk with spaces around every separator; ``content_json`` is already JSON."""
    return (
        '{ "id" : "up-1" , "object" : "chat.completion.chunk" , "created" : 7 , '
        '"model" : "gpt-4o-up" , "choices" : [ { "index" : 0 , "delta" : '
        '{ "content" : ' + content_json + ' } , "finish_reason" : null } ] }'
    )


def reordered(content_json: str) -> str:
    """The owned members after the choices (an upstream that orders them otherwise)."""
    return (
        '{"choices":[{"index":0,"delta":{"content":' + content_json + '},"finish_reason":null}],'
        '"model":"gpt-\\"4o\\"","created":7,"id":"up-2","object":"chat.completion.chunk"}'
    )


def quoted_model(content_json: str) -> str:
    """A compact chunk whose upstream model holds escaped quotes."""
    return (
        '{"id":"up-3","object":"chat.completion.chunk","created":7,"model":"gpt-\\"4o\\"",'
        '"choices":[{"index":0,"delta":{"content":' + content_json + '},"finish_reason":null}]}'
    )


def bare(content_json: str) -> str:
    """No id, object or created at all (some hosts leave them out)."""
    return '{"model":"m","choices":[{"index":0,"delta":{"content":' + content_json + "}}]}"


# The texts each layout carries, as JSON string literals and as the client must read them.
PIECES = ['"caf\\u00e9 "', '"\\"quoted\\" "', '"na\\u00efve\\n"', '"\\u00fcn\\u00ef "', '"🙂 end"']
TEXT = 'café "quoted" naïve\nünï 🙂 end'


def events(chunks: list[str], usage: bool = True) -> bytes:
    """A whole stream: the role chunk, ``chunks``, the finish, the usage chunk, [DONE]."""
    body = [compact("", role=True), *chunks, compact(None, finish="stop")]
    if usage:
        body.append("{" + HEAD + ',"choices":[],"usage":' + orjson.dumps(USAGE).decode() + "}")
    return b"".join(b"data: " + c.encode() + b"\n\n" for c in body) + b"data: [DONE]\n\n"


LAYOUTS = {
    "compact": [compact(orjson.loads(p)) for p in PIECES],
    "compact-escapes": [
        "{" + HEAD + ',"choices":[{"index":0,"delta":{"content":' + p + '},"finish_reason":null}]}'
        for p in PIECES
    ],
    "spaced": [spaced(p) for p in PIECES],
    "reordered": [reordered(p) for p in PIECES],
    "quoted-model": [quoted_model(p) for p in PIECES],
    "bare": [bare(p) for p in PIECES],
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedStream]:
    with ScriptedStream() as server:
        yield server


@pytest.fixture(scope="module")
def gw(upstream: ScriptedStream) -> Iterator[GatewayProcess]:
    env = {
        "OPENAI_BASE_URL": upstream.url,
        "OPENAI_API_KEY": "sk-scripted-0123456789",
        "VISIONGATE_UPSTREAM_RETRIES": "0",
        "VISIONGATE_USAGE_FLUSH_INTERVAL": "0.1",
    }
    with run_gateway(env=env, config=CONFIG) as server:
        yield server


def sdk_stream(
    gw: GatewayProcess, model: str = "gpt-4o", include_usage: bool = True
) -> tuple[str, list[openai.types.chat.ChatCompletionChunk]]:
    rid = uuid.uuid4().hex[:16]
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    with gw.client(default_headers={"x-request-id": rid}) as client:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Say it."}],
            stream=True,
            **options,  # type: ignore[arg-type]
        )
        return rid, list(stream)


def raw_stream(gw: GatewayProcess, include_usage: bool) -> list[dict[str, object]]:
    body: dict[str, object] = {
        "model": "gpt-4o",
        "stream": True,
        "messages": [{"role": "user", "content": "Say it."}],
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    answer = requests.post(
        f"{gw.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {gw.api_key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    found = sse_events([answer.content])
    assert found[-1] == (None, "[DONE]")
    return [orjson.loads(data) for _, data in found[:-1]]


def check_owned(rid: str, chunks: list[openai.types.chat.ChatCompletionChunk], model: str) -> None:
    assert {c.id for c in chunks} == {f"chatcmpl-{rid}"}
    assert {c.model for c in chunks} == {model}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    created = {c.created for c in chunks}
    assert len(created) == 1 and created != {7}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_owned_member_is_rewritten_whatever_the_layout(
    gw: GatewayProcess, upstream: ScriptedStream, layout: str
) -> None:
    upstream.pieces = [events(LAYOUTS[layout])]
    started = int(time.time())
    rid, chunks = sdk_stream(gw)
    check_owned(rid, chunks, "gpt-4o")
    assert chunks[0].created >= started - 5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == USAGE["prompt_tokens"]
    assert chunks[-1].usage.completion_tokens == USAGE["completion_tokens"]
    assert all(c.usage is None for c in chunks[:-1])


def test_a_model_id_with_quotes_is_written_back_exactly(
    gw: GatewayProcess, upstream: ScriptedStream
) -> None:
    upstream.pieces = [events(LAYOUTS["compact"] + LAYOUTS["quoted-model"])]
    rid, chunks = sdk_stream(gw, model=QUOTED)
    check_owned(rid, chunks, QUOTED)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT * 2
    assert upstream.requests[-1]["model"] == "gpt-4o"


def test_text_chunks_are_forwarded_as_the_upstream_wrote_them(
    gw: GatewayProcess, upstream: ScriptedStream
) -> None:
    """The escapes arrive as written (``\\u00e9``, not a re-encoded ``é``), and the members
    the gateway does not own (``system_fingerprint``, ``obfuscation``) come through."""
    upstream.pieces = [events(LAYOUTS["compact-escapes"] + LAYOUTS["compact"][:1])]
    answer = requests.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {gw.api_key}"},
        timeout=60,
    )
    assert answer.status_code == 200
    for piece in PIECES:
        assert b'"content":' + piece.encode() in answer.content
    parsed = [orjson.loads(d) for _, d in sse_events([answer.content])[:-1]]
    assert any(p.get("obfuscation") == "Zx" and p["system_fingerprint"] == "fp_up" for p in parsed)


@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no-usage"])
def test_usage_members_follow_what_the_client_asked(
    gw: GatewayProcess, upstream: ScriptedStream, include_usage: bool
) -> None:
    """The gateway always asks the upstream for usage; the client sees a ``usage`` member
    (null, then the totals in a last chunk) only when it asked for it too."""
    upstream.pieces = [events(LAYOUTS["compact"] + LAYOUTS["spaced"] + LAYOUTS["reordered"])]
    payloads = raw_stream(gw, include_usage)
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}
    if include_usage:
        assert all(p["usage"] is None for p in payloads[:-1])
        assert payloads[-1]["choices"] == [] and payloads[-1]["usage"] == USAGE
    else:
        assert all("usage" not in p and p["choices"] for p in payloads)


def test_events_split_across_reads_come_out_whole(
    gw: GatewayProcess, upstream: ScriptedStream
) -> None:
    """Every event cut into pieces written one by one: inside ``data:``, inside a member
    name, inside an escape, inside a UTF-8 character and between the two newlines."""
    stream = events(LAYOUTS["compact"] + LAYOUTS["spaced"] + LAYOUTS["compact-escapes"])
    cuts = sorted(
        {stream.find(b"ata:"), stream.find(b"del"), stream.find(b"u00e9") + 2}
        | {stream.find("🙂".encode()) + 1, stream.find(b"\n\n") + 1}
        | set(range(0, len(stream), 97))
    )
    upstream.pieces = [stream[a:b] for a, b in zip(cuts, [*cuts[1:], len(stream)], strict=True)]
    assert len(upstream.pieces) > 20
    rid, chunks = sdk_stream(gw)
    check_owned(rid, chunks, "gpt-4o")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT * 3
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == USAGE["total_tokens"]


def test_the_upstream_usage_is_recorded_once(gw: GatewayProcess, upstream: ScriptedStream) -> None:
    upstream.pieces = [events(LAYOUTS["compact"])]
    rid, chunks = sdk_stream(gw, include_usage=False)
    assert all(c.usage is None for c in chunks)
    assert usage_rows(gw, [rid]) == {rid: (200, None)}
    query = "SELECT prompt_tokens, completion_tokens FROM usage WHERE request_id = ?"
    with contextlib.closing(sqlite3.connect(gw.data_dir / "visiongate.db")) as db:
        rows = db.execute(query, [rid]).fetchall()
    assert rows == [(USAGE["prompt_tokens"], USAGE["completion_tokens"])]


# OpenAI pads every chunk with an ``obfuscation`` member of a different length and text.
WORDS = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog", "."]


def padded(text: str, i: int) -> str:
    choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
    rest = orjson.dumps({"system_fingerprint": "fp_up", "choices": [choice]}).decode()[1:-1]
    return (
        "{" + HEAD + "," + rest + ',"usage":null,"obfuscation":"' + "pad"[: i % 4] + "Q" * i + '"}'
    )


@pytest.mark.parametrize("reads", ["one-read", "a-read-each"])
def test_padded_text_chunks_read_as_a_run_reach_every_surface(
    gw: GatewayProcess, upstream: ScriptedStream, reads: str
) -> None:
    """Text chunks written alike but for their padding, as OpenAI sends them, read
    together (one network read) or apart: a Chat client gets each one's own bytes with
    its padding, the Responses and Messages clients get a text delta per chunk."""
    stream = events([padded(w, i) for i, w in enumerate(WORDS)])
    frames = [f + b"\n\n" for f in stream.split(b"\n\n") if f]
    upstream.pieces = [stream] if reads == "one-read" else frames
    answer = requests.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {gw.api_key}", "x-request-id": "run-" + reads},
        timeout=60,
    )
    assert answer.status_code == 200
    parsed = [orjson.loads(d) for _, d in sse_events([answer.content])[:-1]]
    texts = [p["choices"][0]["delta"].get("content") for p in parsed if p["choices"]]
    assert "".join(t or "" for t in texts) == "".join(WORDS)
    pads = [p.get("obfuscation") for p in parsed if p["choices"] and p["choices"][0]["delta"]]
    assert pads[1:] == ["pad"[: i % 4] + "Q" * i for i in range(len(WORDS))]
    assert {p["id"] for p in parsed} == {"chatcmpl-run-" + reads}
    assert all("usage" not in p for p in parsed)

    upstream.pieces = [stream] if reads == "one-read" else frames
    with gw.client() as client:
        deltas = [
            e.delta
            for e in client.responses.create(model="gpt-4o", input="x", stream=True)
            if e.type == "response.output_text.delta"
        ]
    assert deltas == WORDS

    upstream.pieces = [stream] if reads == "one-read" else frames
    with (
        anthropic_client(base_url=gw.root, api_key=gw.api_key, max_retries=0, timeout=60) as claude,
        claude.messages.stream(
            model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "x"}]
        ) as answer_events,
    ):
        texts = [e.delta.text for e in answer_events if e.type == "content_block_delta"]
    assert texts == WORDS


@pytest.mark.parametrize("choice", [False, True, None])
def test_the_clients_padding_choice_reaches_openai(
    gw: GatewayProcess, upstream: ScriptedStream, choice: bool | None
) -> None:
    """``stream_options.include_obfuscation`` goes on to OpenAI as the client set it (the
    gateway always asks for usage besides), and is left out when the client left it out."""
    upstream.pieces = [events([padded(w, i) for i, w in enumerate(WORDS)])]
    options: dict[str, bool] = {"include_usage": True}
    if choice is not None:
        options["include_obfuscation"] = choice
    with gw.client() as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                stream_options=options,  # type: ignore[typeddict-item]
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(WORDS)
    expected = {"include_usage": True} | ({} if choice is None else {"include_obfuscation": choice})
    assert upstream.requests[-1]["stream_options"] == expected


def test_a_padding_choice_that_is_not_a_boolean_is_refused(gw: GatewayProcess) -> None:
    with gw.client() as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            stream_options={"include_obfuscation": "no"},  # type: ignore[typeddict-item]
        )
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "stream_options.include_obfuscation"  # type: ignore[index]
