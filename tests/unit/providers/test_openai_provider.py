"""OpenAIProvider against the fake OpenAI-compatible upstream on 127.0.0.1, in this loop."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.images import make_image
from visiongate.core.catalog import ImageLimits, ModelEntry, ProviderEntry
from visiongate.core.messages import (
    ChatRequest,
    ImagePart,
    Message,
    StreamDelta,
    TextPart,
    ToolSpec,
)
from visiongate.errors import (
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from visiongate.providers.openai import OpenAIProvider
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)

KEY = "sk-unit-test-key-abcdefghijklmnop"
ALL_CAPS = frozenset({"vision", "streaming", "tools", "json_mode", "n", "seed"})
GPT = ModelEntry(
    id="gpt-4o",
    provider="openai",
    upstream="gpt-4o-2024-08-06",
    image=ImageLimits(),
    capabilities=ALL_CAPS,
)
JPEG = make_image("JPEG", (32, 24))
MINIMAX = {
    "name": "minimax",
    "chat_path": "/v1/text/chatcompletion_v2",
    "quirks": frozenset({"minimax_base_resp", "minimax_final_chunk", "temperature_max_1"}),
}
MINIMAX_MODEL = ModelEntry(
    id="MiniMax-Text-01",
    provider="minimax",
    upstream="MiniMax-Text-01",
    image=ImageLimits(),
    capabilities=frozenset({"vision", "streaming", "tools", "json_mode"}),
)

Factory = Callable[..., Awaitable[tuple[FakeOpenAI, OpenAIProvider]]]


@pytest.fixture
async def upstream() -> AsyncIterator[Factory]:
    """Start a fake and a provider pointed at it; both are stopped after the test."""
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(
        fake: FakeOpenAI | None = None,
        settings: Settings | None = None,
        base_path: str = "/v1",
        **entry: Any,
    ) -> tuple[FakeOpenAI, OpenAIProvider]:
        fake = fake or FakeOpenAI(api_key=KEY)
        runner = web.AppRunner(fake.app(), shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        values: dict[str, Any] = {
            "name": "openai",
            "kind": "openai",
            "base_url": f"http://127.0.0.1:{port}{base_path}",
            "api_key": KEY,
        }
        values.update(entry)
        provider = OpenAIProvider(ProviderEntry(**values), settings or Settings(upstream_retries=2))
        await provider.start()
        cleanups.append(runner.cleanup)
        cleanups.append(provider.close)
        return fake, provider

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


def ask(text: str, *images: ImagePart, **kw: Any) -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=[Message("user", [TextPart(text), *images])], **kw)


def inline_jpeg(param: str = "messages[0].content[1]") -> ImagePart:
    return ImagePart(param=param, data=JPEG, media_type="image/jpeg", width=32, height=24)


async def collect(provider: OpenAIProvider, request: ChatRequest) -> list[StreamDelta]:
    return [delta async for delta in provider.stream(request, GPT)]


async def test_complete_sends_the_documented_request_and_maps_the_answer(upstream: Factory) -> None:
    fake, provider = await upstream(quirks=frozenset({"max_completion_tokens"}))
    remote = ImagePart(param="messages[0].content[2]", url="https://img.example/a.png")
    request = ask("What is in these?", inline_jpeg(), remote, max_tokens=30, temperature=0.3)
    response = await provider.complete(request, GPT)

    sent = fake.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == "gpt-4o-2024-08-06"
    assert sent.body["max_completion_tokens"] == 30 and sent.body["temperature"] == 0.3
    assert "stream" not in sent.body
    assert sent.image_urls == [
        "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
        "https://img.example/a.png",
    ]
    [choice] = response.choices
    assert choice.content == (
        "Fake reply from gpt-4o-2024-08-06: 2 image(s) in 1 message(s). lorem ipsum dolor"
    )
    assert choice.finish_reason == "stop"
    assert response.usage is not None and response.usage.prompt_tokens > 170
    assert response.usage.completion_tokens == 12
    assert response.upstream_model == "gpt-4o-2024-08-06"


async def test_stream_yields_role_first_and_finish_with_usage_last(upstream: Factory) -> None:
    fake, provider = await upstream()
    deltas = await collect(provider, ask("Describe", inline_jpeg(), stream=True))
    assert fake.last.body["stream"] is True
    assert fake.last.body["stream_options"] == {"include_usage": True}
    assert deltas[0].role == "assistant"
    assert all(d.role is None for d in deltas[1:])
    text = "".join(d.content or "" for d in deltas)
    assert text.startswith("Fake reply from gpt-4o-2024-08-06: 1 image(s)")
    last = deltas[-1]
    assert last.finish_reason == "stop"
    assert last.usage is not None and last.usage.completion_tokens == 12
    assert [d for d in deltas[:-1] if d.finish_reason or d.usage] == []


async def test_streamed_tool_call_arrives_in_pieces(upstream: Factory) -> None:
    _, provider = await upstream()
    request = ask(
        "Weather? [[tool=get_weather]]", stream=True, tools=[ToolSpec(name="get_weather")]
    )
    deltas = await collect(provider, request)
    pieces = [call for d in deltas for call in d.tool_calls or ()]
    assert pieces[0].id == "call_fake" and pieces[0].name == "get_weather"
    assert "".join(p.arguments or "" for p in pieces) == '{"city": "Paris"}'
    assert deltas[-1].finish_reason == "tool_calls"


async def test_several_choices_each_finish_and_usage_rides_on_the_last(upstream: Factory) -> None:
    _, provider = await upstream()
    deltas = await collect(provider, ask("Two takes", n=2, stream=True))
    finals = [d for d in deltas if d.finish_reason]
    assert [d.index for d in finals] == [0, 1]
    assert finals[0].usage is None and finals[1].usage is not None
    assert deltas[-2:] == finals
    for index in (0, 1):
        mine = [d for d in deltas if d.index == index]
        assert mine[0].role == "assistant"
        assert "".join(d.content or "" for d in mine).startswith("Fake reply")


async def test_rate_limited_is_one_call_a_429_with_the_upstream_delay(upstream: Factory) -> None:
    """One call per complete(): retries are the routing policy's (service/routing.py)."""
    fake, provider = await upstream()
    with pytest.raises(RateLimited) as caught:
        await provider.complete(ask("Hi [[rate_limit=5]]"), GPT)
    assert caught.value.status == 429
    assert caught.value.headers == {"Retry-After": "0"}
    assert caught.value.upstream_status == 429 and caught.value.retry_after_s == 0.0
    assert len(fake.requests) == 1


async def test_server_error_is_a_502_with_the_upstream_message_and_status(
    upstream: Factory,
) -> None:
    fake, provider = await upstream()
    with pytest.raises(UpstreamError) as caught:
        await provider.complete(ask("Hi [[status=500]]"), GPT)
    assert caught.value.status == 502 and caught.value.code == "upstream_error"
    assert "fake upstream failure 500" in caught.value.message
    assert caught.value.upstream_status == 500 and caught.value.retry_after_s is None
    assert len(fake.requests) == 1


async def test_bad_request_is_a_400_with_the_upstream_message_and_code(upstream: Factory) -> None:
    fake, provider = await upstream(fake=FakeOpenAI(api_key=KEY, max_images=1))
    two = ask("Two", inline_jpeg(), inline_jpeg("messages[0].content[2]"))
    with pytest.raises(InvalidRequest) as caught:
        await provider.complete(two, GPT)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_value"
    assert "At most 1 image(s)" in caught.value.message
    assert len(fake.requests) == 1


async def test_unknown_upstream_model_is_a_404(upstream: Factory) -> None:
    _, provider = await upstream(fake=FakeOpenAI(api_key=KEY, models=frozenset({"gpt-4o-mini"})))
    with pytest.raises(ModelNotFound) as caught:
        await provider.complete(ask("Hi"), GPT)
    assert caught.value.status == 404 and caught.value.param == "model"
    assert "gpt-4o-2024-08-06" in caught.value.message


async def test_refused_credentials_are_a_502_that_never_shows_the_key(upstream: Factory) -> None:
    fake = FakeOpenAI(api_key="sk-the-key-the-upstream-expects-000")
    _, provider = await upstream(fake=fake)
    with pytest.raises(UpstreamError) as caught:
        await provider.complete(ask("Hi"), GPT)
    error = caught.value
    assert error.status == 502 and "credentials" in error.message
    assert KEY not in error.message and KEY[-4:] not in error.message
    assert "[redacted]" in error.message


async def test_an_upstream_that_echoes_the_whole_key_has_it_redacted(upstream: Factory) -> None:
    _, provider = await upstream()
    with pytest.raises(UpstreamError) as caught:
        await provider.complete(ask("Hi [[leak_key]]"), GPT)
    assert KEY not in caught.value.message
    assert "Incorrect API key provided: [redacted]" in caught.value.message


async def test_a_hanging_upstream_is_a_504(upstream: Factory) -> None:
    settings = Settings(upstream_timeout=0.3, upstream_retries=0)
    _, provider = await upstream(settings=settings)
    with pytest.raises(UpstreamTimeout) as caught:
        await provider.complete(ask("Hi [[hang]]"), GPT)
    assert caught.value.status == 504
    with pytest.raises(UpstreamTimeout):
        await collect(provider, ask("Hi [[chunk_delay=5]]", stream=True))


@pytest.mark.parametrize("stream", [False, True])
async def test_a_connection_broken_halfway_is_a_502(upstream: Factory, stream: bool) -> None:
    _, provider = await upstream()
    request = ask("Hi [[break=3]]", stream=stream)
    with pytest.raises(UpstreamError) as caught:
        if stream:
            await collect(provider, request)
        else:
            await provider.complete(request, GPT)
    assert caught.value.status == 502


async def test_a_stream_that_ends_without_finishing_is_a_502(upstream: Factory) -> None:
    _, provider = await upstream()
    deltas: list[StreamDelta] = []
    with pytest.raises(UpstreamError, match="before the answer was complete"):
        async for delta in provider.stream(ask("Hi [[truncate=4]]", stream=True), GPT):
            deltas.append(delta)
    assert "".join(d.content or "" for d in deltas) == "Fake reply from gpt-4o-2024-08-06: "


async def test_minimax_final_repeat_ends_the_stream_even_without_the_flag(
    upstream: Factory,
) -> None:
    fake = FakeOpenAI(api_key=KEY, minimax=True)
    _, provider = await upstream(fake=fake, base_path="", chat_path=MINIMAX["chat_path"])
    deltas = await collect(provider, ask("Hi", stream=True))
    assert "".join(d.content or "" for d in deltas).count("Fake reply") == 1
    assert deltas[-1].finish_reason == "stop" and deltas[-1].usage is not None


async def test_error_event_inside_a_200_stream_is_raised(upstream: Factory) -> None:
    fake = FakeOpenAI(api_key=KEY, sse_comments=True)
    _, provider = await upstream(fake=fake, name="openrouter")
    received: list[StreamDelta] = []
    with pytest.raises(UpstreamError) as caught:
        async for delta in provider.stream(ask("Hi [[stream_error=4]]", stream=True), GPT):
            received.append(delta)
    assert caught.value.status == 502
    assert "Provider returned error midway" in caught.value.message
    assert "".join(d.content or "" for d in received) == "Fake reply from gpt-4o-2024-08-06: "


async def test_closing_the_stream_drops_the_upstream_connection(upstream: Factory) -> None:
    fake, provider = await upstream()
    stream = provider.stream(ask("Long [[chunks=500]] [[chunk_delay=0.02]]", stream=True), GPT)
    seen = [await anext(stream) for _ in range(3)]
    assert seen[1].content == "Fake "
    await stream.aclose()
    async with asyncio.timeout(10):
        while fake.disconnects == 0:
            await asyncio.sleep(0.02)
    assert fake.disconnects == 1


async def test_cancelling_the_consumer_drops_the_upstream_connection(upstream: Factory) -> None:
    fake, provider = await upstream()
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(ask("Long [[chunks=500]] [[chunk_delay=0.02]]"), GPT):
            started.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(10):
        while fake.disconnects == 0:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("done", [False, True])
async def test_minimax_stream_takes_the_final_repeat_once(upstream: Factory, done: bool) -> None:
    fake = FakeOpenAI(api_key=KEY, minimax=True, minimax_done=done, temperature_range=(0, 1))
    fake, provider = await upstream(fake=fake, base_path="", **MINIMAX)
    request = ask("Hi", inline_jpeg(), stream=True, temperature=1.5)
    deltas = [d async for d in provider.stream(request, MINIMAX_MODEL)]
    assert fake.last.path == "/v1/text/chatcompletion_v2"
    assert fake.last.body["temperature"] == 1.0
    text = "".join(d.content or "" for d in deltas)
    assert text == "Fake reply from MiniMax-Text-01: 1 image(s) in 1 message(s). lorem ipsum dolor"
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens == 12


async def test_minimax_whole_answer(upstream: Factory) -> None:
    fake = FakeOpenAI(api_key=KEY, minimax=True, temperature_range=(0, 1))
    _, provider = await upstream(fake=fake, base_path="", **MINIMAX)
    response = await provider.complete(ask("Hi", temperature=0.0), MINIMAX_MODEL)
    assert fake.last.body["temperature"] == 0.01
    assert response.choices[0].content is not None and response.usage is not None


@pytest.mark.parametrize("stream", [False, True])
async def test_minimax_failure_inside_http_200(upstream: Factory, stream: bool) -> None:
    fake = FakeOpenAI(api_key=KEY, minimax=True)
    _, provider = await upstream(fake=fake, base_path="", **MINIMAX)
    request = ask("Hi [[base_resp=1008]]", stream=stream)
    with pytest.raises(UpstreamError) as caught:
        if stream:
            [d async for d in provider.stream(request, MINIMAX_MODEL)]
        else:
            await provider.complete(request, MINIMAX_MODEL)
    assert caught.value.status == 502
    assert "balance" in caught.value.message and "1008" in caught.value.message


async def test_keyless_server_gets_no_authorization_header(upstream: Factory) -> None:
    fake = FakeOpenAI(api_key=None, accept_developer_role=False)
    _, provider = await upstream(fake=fake, name="myvllm", api_key=None, options={"auth": "none"})
    request = ChatRequest(
        model="my/model",
        messages=[Message("developer", [TextPart("Be terse")]), Message("user", [TextPart("Hi")])],
    )
    response = await provider.complete(request, GPT)
    assert "authorization" not in fake.last.headers
    assert fake.last.body["messages"][0]["role"] == "system"
    assert response.choices[0].content


async def test_attribution_and_static_headers_are_sent(upstream: Factory) -> None:
    fake, provider = await upstream(
        name="openrouter",
        headers={"X-Extra": "1"},
        options={"app_url": "https://myapp.example", "app_title": "My App"},
    )
    await provider.complete(ask("Hi"), GPT)
    headers = fake.last.headers
    assert headers["http-referer"] == "https://myapp.example"
    assert headers["x-title"] == "My App" and headers["x-extra"] == "1"


def test_check_refuses_what_the_model_cannot_honour() -> None:
    entry = ProviderEntry(name="minimax", kind="openai", base_url="http://x", api_key="k")
    provider = OpenAIProvider(entry, Settings())
    with pytest.raises(InvalidRequest) as caught:
        provider.check(ask("Hi", n=2), MINIMAX_MODEL)
    assert (caught.value.param, caught.value.code) == ("n", "unsupported_parameter")
    provider.check(ask("Hi", seed=3), MINIMAX_MODEL)  # a sampling hint: dropped, not refused
    provider.check(ask("Hi", seed=3, n=2), GPT)


def test_unknown_quirk_fails_at_construction() -> None:
    entry = ProviderEntry(
        name="x", kind="openai", base_url="http://x", quirks=frozenset({"nonsense"})
    )
    with pytest.raises(ValueError, match="nonsense"):
        OpenAIProvider(entry, Settings())


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ({"object": "error", "message": "bad image", "code": 400}, InvalidRequest, 400),
        ({"error": {"code": 429, "message": "slow down"}}, RateLimited, 429),
        ({"error": {"code": "server_error", "message": "boom"}}, UpstreamError, 502),
        ({"error": "boom"}, UpstreamError, 502),
    ],
)
def test_errors_inside_a_200_answer(body: dict, kind: type, status: int) -> None:
    provider = OpenAIProvider(
        ProviderEntry(name="openrouter", kind="openai", base_url="http://x", api_key=KEY),
        Settings(),
    )
    with pytest.raises(kind) as caught:
        provider._raise_for_body(body, GPT)
    assert caught.value.status == status
    assert "openrouter" in caught.value.message
