"""The fake OpenAI-compatible upstream refuses what the real API refuses, and answers in
its exact shapes: the other tests' "the upstream accepted it" means something only then."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.images import make_image

pytestmark = pytest.mark.timeout(30)

KEY = "sk-fake-upstream-key-0123456789"
PNG = make_image("PNG", (8, 8))
PNG_B64 = base64.b64encode(PNG).decode()


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeOpenAI, str, aiohttp.ClientSession]]:
    fake = FakeOpenAI(max_images=2, max_image_bytes=100_000)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        yield fake, f"http://127.0.0.1:{port}/v1/chat/completions", session
    await runner.cleanup()


async def post(
    served: tuple[FakeOpenAI, str, aiohttp.ClientSession], body: Any, key: str | None = KEY
) -> tuple[int, bytes]:
    _, url, session = served
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
        return response.status, await response.read()


def user(*parts: dict) -> dict:
    return {"role": "user", "content": list(parts)}


def image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


GOOD = {
    "model": "m",
    "messages": [user({"type": "text", "text": "hi"}, image(f"data:image/png;base64,{PNG_B64}"))],
}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"messages": [user({"type": "text", "text": "x"})]}, "model"),
        ({**GOOD, "max_token": 5}, "Unrecognized request argument supplied: max_token"),
        ({**GOOD, "messages": [{"role": "robot", "content": "x"}]}, "role"),
        (
            {
                "model": "m",
                "messages": [{"role": "assistant", "content": [image("https://a/b.png")]}],
            },
            "only allowed for messages with role 'user'",
        ),
        ({"model": "m", "messages": [user(image("file:///etc/passwd"))]}, "http(s) or base64"),
        ({"model": "m", "messages": [user(image("data:image/png;base64,@@@"))]}, "base64"),
        (
            {"model": "m", "messages": [user(image(f"data:image/jpeg;base64,{PNG_B64}"))]},
            "its bytes say image/png",
        ),
        ({"model": "m", "messages": [user(*[image("https://a/b.png")] * 3)]}, "At most 2 image"),
        (
            {"model": "m", "messages": [user(image("data:image/png;base64," + "A" * 200_000))]},
            "exceeds",
        ),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ({**GOOD, "temperature": 2.5}, "temperature"),
        ({**GOOD, "stream_options": {"include_usage": True}}, "stream_options"),
        ({**GOOD, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
async def test_refuses_what_the_real_api_refuses(served: Any, body: dict, fragment: str) -> None:
    status, raw = await post(served, body)
    assert status == 400
    error = orjson.loads(raw)["error"]
    assert fragment in error["message"] and error["type"] == "invalid_request_error"


async def test_wrong_or_missing_key_is_a_401(served: Any) -> None:
    for key in ("sk-wrong-key-000000000", None):
        status, raw = await post(served, GOOD, key)
        assert status == 401
        assert orjson.loads(raw)["error"]["code"] == "invalid_api_key"


async def test_records_and_answers_a_chat_completion(served: Any) -> None:
    fake = served[0]
    status, raw = await post(served, GOOD)
    assert status == 200
    answer = orjson.loads(raw)
    assert answer["object"] == "chat.completion" and answer["model"] == "m"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["usage"]["total_tokens"] == sum(
        answer["usage"][k] for k in ("prompt_tokens", "completion_tokens")
    )
    assert fake.last.image_urls == [f"data:image/png;base64,{PNG_B64}"]
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"


def events(raw: bytes) -> list[Any]:
    lines = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    return [line if line == "[DONE]" else orjson.loads(line) for line in lines]


async def test_stream_shape_with_usage(served: Any) -> None:
    body = {**GOOD, "stream": True, "stream_options": {"include_usage": True}}
    status, raw = await post(served, body)
    assert status == 200
    chunks = events(raw)
    assert chunks[-1] == "[DONE]"
    *content, finish, usage, _ = chunks
    assert content[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["usage"] is None for c in content)
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0


async def test_minimax_stream_ends_with_the_whole_message() -> None:
    fake = FakeOpenAI(minimax=True)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/v1/text/chatcompletion_v2"
    try:
        async with aiohttp.ClientSession() as session:
            body = {**GOOD, "stream": True}
            headers = {"Authorization": f"Bearer {KEY}"}
            async with session.post(url, json=body, headers=headers) as response:
                chunks = events(await response.read())
    finally:
        await runner.cleanup()
    final = chunks[-1]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert final["object"] == "chat.completion" and final["base_resp"]["status_code"] == 0
    assert final["choices"][0]["message"]["content"] == text
    assert final["usage"]["prompt_tokens"] > 0
