"""AnthropicProvider against the fake Messages API on loopback: the whole adapter (payload,
HTTP, SSE, error mapping, retries, cancellation) with the fake checking every request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.fakes.anthropic_upstream import AnthropicFake
from tests.support.background import BackgroundApp
from tests.support.images import make_image
from visiongate.core.catalog import load_catalog
from visiongate.core.messages import (
    ChatRequest,
    ImagePart,
    Message,
    StreamDelta,
    TextPart,
    ToolSpec,
)
from visiongate.errors import (
    GatewayError,
    ModelNotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from visiongate.providers.anthropic import AnthropicProvider
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)

MODEL_ID = "claude-3-haiku-latest"


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    yield AnthropicFake()


@pytest.fixture
def server(fake: AnthropicFake) -> Iterator[BackgroundApp]:
    with BackgroundApp(fake.app()) as srv:
        yield srv


def make_provider(server: BackgroundApp, key: str, **settings: float) -> AnthropicProvider:
    environ = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": key}
    entry = load_catalog(environ=environ).providers["anthropic"]
    options = {"upstream_retries": 1, "upstream_timeout": 10.0, **settings}
    return AnthropicProvider(entry, Settings(**options))


@pytest.fixture
async def provider(server: BackgroundApp, fake: AnthropicFake) -> AsyncIterator[AnthropicProvider]:
    adapter = make_provider(server, fake.api_key)
    await adapter.start()
    yield adapter
    await adapter.close()


def model(model_id: str = MODEL_ID):  # type: ignore[no-untyped-def]
    return load_catalog(environ={}).models[model_id]


def request(text: str = "What is in these images?", images: int = 2, **kw: object) -> ChatRequest:
    parts: list[TextPart | ImagePart] = [TextPart(text)]
    for n in range(images):
        fmt, mime = (("PNG", "image/png"), ("JPEG", "image/jpeg"))[n % 2]
        parts.append(
            ImagePart(
                param=f"messages[0].content[{n + 1}]",
                data=make_image(fmt, (80 + n, 60)),
                media_type=mime,
                width=80 + n,
                height=60,
            )
        )
    return ChatRequest(MODEL_ID, [Message("user", parts)], **kw)  # type: ignore[arg-type]


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    async with asyncio.timeout(20):
        return [delta async for delta in stream]


async def test_complete_sends_the_documented_request(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    response = await provider.complete(request(max_tokens=300), model())
    assert fake.violations == []
    received = fake.last
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == fake.api_key
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert received.body["model"] == "claude-3-haiku-20240307"
    images = [b for b in received.body["messages"][0]["content"] if b["type"] == "image"]
    assert [b["source"]["media_type"] for b in images] == ["image/png", "image/jpeg"]
    choice = response.choices[0]
    assert choice.content is not None
    assert "saw 2 image(s): image/png 80x60, image/jpeg 81x60" in choice.content
    assert choice.finish_reason == "stop"
    assert response.usage is not None and response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens == len(choice.content.split())
    assert response.upstream_model == "claude-3-haiku-20240307"


async def test_stream_yields_role_text_then_finish_with_usage(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    deltas = await collect(provider.stream(request(), model()))
    assert fake.violations == []
    assert fake.last.body["stream"] is True
    assert deltas[0].role == "assistant"
    text = "".join(d.content or "" for d in deltas)
    assert "saw 2 image(s)" in text
    assert len([d for d in deltas if d.content]) > 3  # word by word, not one buffered blob
    last = deltas[-1]
    assert last.finish_reason == "stop"
    assert last.usage is not None and last.usage.completion_tokens == len(text.split())
    assert fake.completed_streams == 1


async def test_stop_sequences_and_max_tokens(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    stopped = await provider.complete(
        request("[[say:one two three END four]]", stop=["END"]), model()
    )
    assert fake.last.body["stop_sequences"] == ["END"]
    assert stopped.choices[0].content == "one two three "
    assert stopped.choices[0].finish_reason == "stop"
    cut = await collect(provider.stream(request("[[say:a b c d e f]]", max_tokens=3), model()))
    assert "".join(d.content or "" for d in cut) == "a b c "
    assert cut[-1].finish_reason == "length"


async def test_streamed_tool_call(provider: AnthropicProvider, fake: AnthropicFake) -> None:
    weather = ToolSpec(
        "get_weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    deltas = await collect(
        provider.stream(request(images=0, tools=[weather], tool_choice="required"), model())
    )
    assert fake.violations == []
    assert fake.last.body["tool_choice"] == {"type": "any"}
    pieces = [p for d in deltas for p in d.tool_calls or ()]
    assert pieces[0].id and pieces[0].id.startswith("toolu_") and pieces[0].name == "get_weather"
    assert json.loads("".join(p.arguments or "" for p in pieces)) == {"city": "Paris"}
    assert deltas[-1].finish_reason == "tool_calls"


async def test_overloaded_is_one_call_that_keeps_the_status(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    """One call per complete(): the routing policy retries by ``upstream_status``."""
    fake.failures = [529]
    with pytest.raises(UpstreamError) as info:
        await provider.complete(request(images=0), model())
    assert len(fake.requests) == 1 and info.value.upstream_status == 529
    assert (await provider.complete(request(images=0), model())).choices[0].content


async def test_persistent_overload_becomes_502_with_the_upstream_message(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    fake.failures = [529, 529]
    with pytest.raises(UpstreamError) as info:
        await provider.complete(request(images=0), model())
    assert info.value.status == 502
    assert "Overloaded" in info.value.message and "overloaded_error" in info.value.message


async def test_overload_as_the_first_stream_event_fails_as_an_http_529_does(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    """HTTP 200 whose first event is ``overloaded_error``: the same error as an HTTP 529,
    so the routing policy retries it the same way; nothing reached the client."""
    fake.failures = [529]
    with pytest.raises(GatewayError) as by_status:
        await collect(provider.stream(request(images=0), model()))
    fake.requests.clear()
    fake.stream_errors = ["overloaded_error"]
    with pytest.raises(GatewayError) as in_band:
        await collect(provider.stream(request(images=0), model()))
    assert len(fake.requests) == 1 and fake.stream_errors == []
    assert isinstance(in_band.value, UpstreamError)
    assert in_band.value.to_dict() == by_status.value.to_dict()
    assert in_band.value.status == by_status.value.status == 502
    assert in_band.value.upstream_status == by_status.value.upstream_status == 529
    deltas = await collect(provider.stream(request(images=0), model()))
    assert "saw 0 image(s)" in "".join(d.content or "" for d in deltas)


async def test_first_event_error_that_is_not_transient_is_not_retried(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    fake.stream_errors = ["invalid_request_error"]
    with pytest.raises(GatewayError) as info:
        await collect(provider.stream(request(images=0), model()))
    assert info.value.status == 400
    assert len(fake.requests) == 1


async def test_rate_limit_keeps_the_retry_hint(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    fake.retry_after = "0"
    with pytest.raises(RateLimited) as info:
        await provider.complete(request("[[status:429]]", images=0), model())
    assert info.value.status == 429
    assert info.value.headers == {"Retry-After": "0"}
    assert info.value.retry_after_s == 0.0 and len(fake.requests) == 1


async def test_retired_model_404_names_date_successor_and_setting(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    fake.missing_models = {"claude-3-opus-20240229"}
    with pytest.raises(ModelNotFound) as info:
        await provider.complete(request(images=0), model("claude-3-opus-latest"))
    message = info.value.message
    assert info.value.status == 404
    assert "2026-01-05" in message and "claude-opus-5-5" in message
    assert "VISIONGATE_FOLLOW_SUCCESSORS" in message


async def test_wrong_provider_key_is_a_502_that_never_shows_the_key(
    server: BackgroundApp, fake: AnthropicFake
) -> None:
    adapter = make_provider(server, "sk-ant-wrong-SECRET-987")
    await adapter.start()
    try:
        with pytest.raises(UpstreamError) as info:
            await adapter.complete(request(images=0), model())
    finally:
        await adapter.close()
    assert info.value.status == 502
    assert "invalid x-api-key" in info.value.message
    assert "SECRET" not in json.dumps(info.value.to_dict())


def test_error_messages_are_scrubbed_of_the_key(server: BackgroundApp) -> None:
    adapter = make_provider(server, "sk-ant-SECRET-123")
    error = {"type": "authentication_error", "message": "bad key sk-ant-SECRET-123"}
    body = json.dumps({"type": "error", "error": error}).encode()
    message, _ = adapter.error_message(body)
    assert message == "authentication_error: bad key ***"
    assert "SECRET" not in adapter.error_message(b"plain text sk-ant-SECRET-123")[0]


async def test_overloaded_error_event_mid_stream_raises_after_the_text_so_far(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    seen: list[StreamDelta] = []
    with pytest.raises(UpstreamError) as info:
        async with asyncio.timeout(20):
            async for delta in provider.stream(request("[[error_after:2]]", images=0), model()):
                seen.append(delta)
    assert info.value.status == 502
    assert "overloaded_error" in info.value.message
    assert [d.content for d in seen if d.content] == ["Fake ", "Claude "]
    assert len(fake.requests) == 1  # text had gone out: a retry would repeat it


async def test_stream_broken_halfway_is_an_upstream_error(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    with pytest.raises(UpstreamError):
        await collect(provider.stream(request("[[break:2]]", images=0), model()))


async def test_slow_upstream_becomes_504(server: BackgroundApp, fake: AnthropicFake) -> None:
    adapter = make_provider(server, fake.api_key, upstream_timeout=0.3, upstream_retries=0)
    await adapter.start()
    try:
        with pytest.raises(UpstreamTimeout) as info:
            await adapter.complete(request("[[slow:3]]", images=0), model())
    finally:
        await adapter.close()
    assert info.value.status == 504


async def test_closing_the_stream_cancels_the_upstream_request(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    fake.chunk_delay = 0.02
    fake.reply = "word " * 400
    stream = provider.stream(request(images=0), model())
    async with asyncio.timeout(10):
        deltas = [await anext(stream) for _ in range(3)]
    assert deltas[-1].content == "word "
    await stream.aclose()
    async with asyncio.timeout(10):
        while fake.disconnects == 0:
            await asyncio.sleep(0.02)
    assert fake.completed_streams == 0


async def test_fake_refuses_what_the_real_api_refuses(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    """The checker has teeth: a mislabelled image is caught and answered 400."""
    bad = request(images=1)
    image = bad.messages[0].images[0]
    image.media_type = "image/jpeg"  # the bytes are PNG
    with pytest.raises(GatewayError) as info:
        await provider.complete(bad, model())
    assert info.value.status == 400
    assert "does not match the provided media type" in info.value.message
    assert fake.violations


@pytest.mark.parametrize("hostile", ["nan", "inf", "-1", "1e309", "soon", "Fri, 99 Foo"])
async def test_a_hostile_retry_after_is_ignored_not_passed_on(
    provider: AnthropicProvider, fake: AnthropicFake, hostile: str
) -> None:
    """Before the one delay parser, ``inf`` reached the client's Retry-After as it was,
    and an HTTP date or garbage reached it unchecked."""
    fake.retry_after = hostile
    with pytest.raises(RateLimited) as info:
        await provider.complete(request("[[status:429]]", images=0), model())
    assert info.value.headers == {}
    assert info.value.retry_after_s is None  # the routing policy backs off on its own


async def test_an_http_date_retry_after_becomes_whole_seconds(
    provider: AnthropicProvider, fake: AnthropicFake
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    fake.retry_after = format_datetime(when, usegmt=True)
    with pytest.raises(RateLimited) as info:
        await provider.complete(request("[[status:429]]", images=0), model())
    assert 85 <= int(info.value.headers["Retry-After"]) <= 91
    assert info.value.retry_after_s is not None and 84 <= info.value.retry_after_s <= 91
