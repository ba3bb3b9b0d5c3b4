"""GeminiProvider against the fake Gemini API on loopback: payload, HTTP, SSE, safety
blocks, error mapping, retries and cancellation, with the fake checking every request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.gemini_upstream import GeminiFake
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
from visiongate.providers.gemini import GeminiProvider, from_gemini_error, retry_delay
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)

MODEL_ID = "gemini-2.0-flash-exp"


@pytest.fixture
def fake() -> Iterator[GeminiFake]:
    yield GeminiFake()


@pytest.fixture
def server(fake: GeminiFake) -> Iterator[BackgroundApp]:
    with BackgroundApp(fake.app()) as srv:
        yield srv


def make_provider(server: BackgroundApp, key: str, **settings: float) -> GeminiProvider:
    environ = {"GEMINI_BASE_URL": server.url, "GEMINI_API_KEY": key}
    entry = load_catalog(environ=environ).providers["google"]
    options = {"upstream_retries": 1, "upstream_timeout": 10.0, **settings}
    return GeminiProvider(entry, Settings(**options))


@pytest.fixture
async def provider(server: BackgroundApp, fake: GeminiFake) -> AsyncIterator[GeminiProvider]:
    adapter = make_provider(server, fake.api_key)
    await adapter.start()
    yield adapter
    await adapter.close()


def model(model_id: str = MODEL_ID):  # type: ignore[no-untyped-def]
    return load_catalog(environ={}).models[model_id]


def request(text: str = "Compare these images.", images: int = 2, **kw: object) -> ChatRequest:
    parts: list[TextPart | ImagePart] = [TextPart(text)]
    for n in range(images):
        fmt, mime = (("PNG", "image/png"), ("JPEG", "image/jpeg"))[n % 2]
        data = make_image(fmt, (70, 50))
        parts.append(
            ImagePart(
                param=f"messages[0].content[{n + 1}]",
                data=data,
                media_type=mime,
                width=70,
                height=50,
            )
        )
    return ChatRequest(MODEL_ID, [Message("user", parts)], **kw)  # type: ignore[arg-type]


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    async with asyncio.timeout(20):
        return [delta async for delta in stream]


async def test_complete_sends_the_documented_request(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    response = await provider.complete(request(max_tokens=200), model())
    assert fake.violations == []
    received = fake.last
    assert received.path == "/v1beta/models/gemini-2.0-flash-exp:generateContent"
    assert received.headers["x-goog-api-key"] == fake.api_key
    assert "key" not in received.query  # the key travels in the header, never the URL
    parts = received.body["contents"][0]["parts"]
    assert [p["inlineData"]["mimeType"] for p in parts if "inlineData" in p] == [
        "image/png",
        "image/jpeg",
    ]
    assert received.body["generationConfig"] == {"maxOutputTokens": 200}
    choice = response.choices[0]
    assert (
        choice.content == "Fake Gemini gemini-2.0-flash-exp saw 2 image(s): image/png, image/jpeg."
    )
    assert choice.finish_reason == "stop"
    assert response.usage is not None and response.usage.prompt_tokens > 2 * 258
    assert response.usage.completion_tokens == len(choice.content.split())


async def test_stream_uses_sse_and_the_last_usage(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    deltas = await collect(provider.stream(request(), model()))
    assert fake.violations == []
    assert fake.last.path.endswith(":streamGenerateContent")
    assert fake.last.query == {"alt": "sse"}
    assert deltas[0].role == "assistant"
    text = "".join(d.content or "" for d in deltas)
    assert text.startswith("Fake Gemini gemini-2.0-flash-exp saw 2 image(s)")
    assert len([d for d in deltas if d.content]) == 3
    last = deltas[-1]
    assert last.finish_reason == "stop"
    assert last.usage is not None and last.usage.completion_tokens == len(text.split())
    assert fake.completed_streams == 1


async def test_json_mode(provider: GeminiProvider, fake: GeminiFake) -> None:
    response = await provider.complete(
        request("[[say:blue]]", images=0, response_format={"type": "json_object"}), model()
    )
    assert fake.last.body["generationConfig"] == {"responseMimeType": "application/json"}
    assert json.loads(response.choices[0].content or "") == {"answer": "blue"}


async def test_max_tokens_and_stop(provider: GeminiProvider, fake: GeminiFake) -> None:
    cut = await collect(
        provider.stream(request("[[say:a b c d e]]", images=0, max_tokens=2), model())
    )
    assert "".join(d.content or "" for d in cut) == "a b "
    assert cut[-1].finish_reason == "length"
    stopped = await provider.complete(request("[[say:one two STOP three]]", stop=["STOP"]), model())
    assert stopped.choices[0].content == "one two "
    assert stopped.choices[0].finish_reason == "stop"


async def test_function_call_round(provider: GeminiProvider, fake: GeminiFake) -> None:
    weather = ToolSpec(
        "get_weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    first = await provider.complete(
        request(images=0, tools=[weather], tool_choice="get_weather"), model()
    )
    call = first.choices[0].tool_calls[0]  # type: ignore[index]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert first.choices[0].finish_reason == "tool_calls"
    follow_up = request(images=0, tools=[weather])
    follow_up.messages += [
        Message("assistant", [], tool_calls=[call]),
        Message("tool", [TextPart('{"temp": 21}')], tool_call_id=call.id),
    ]
    deltas = await collect(provider.stream(follow_up, model()))
    assert fake.violations == []
    text = "".join(d.content or "" for d in deltas)
    assert text == 'The function get_weather returned {"temp": 21}'


@pytest.mark.parametrize("stream", [False, True])
async def test_blocked_prompt_is_content_filter_with_the_reason(
    provider: GeminiProvider, fake: GeminiFake, stream: bool
) -> None:
    req = request("[[block:SAFETY]]", images=1)
    if stream:
        deltas = await collect(provider.stream(req, model()))
        content = "".join(d.content or "" for d in deltas)
        finish = deltas[-1].finish_reason
    else:
        choice = (await provider.complete(req, model())).choices[0]
        content, finish = choice.content or "", choice.finish_reason
    assert finish == "content_filter"
    assert content == "Gemini blocked the prompt (SAFETY)"


async def test_safety_finish_without_text(provider: GeminiProvider, fake: GeminiFake) -> None:
    deltas = await collect(provider.stream(request("[[finish:SAFETY]]", images=0), model()))
    assert deltas[-1].finish_reason == "content_filter"
    assert "SAFETY" in (deltas[-1].content or "")


async def test_unavailable_keeps_its_status_for_the_routing_policy(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    fake.failures = [503]
    with pytest.raises(GatewayError) as info:
        await provider.complete(request(images=0), model())
    assert len(fake.requests) == 1 and info.value.upstream_status == 503


async def test_quota_exhausted_is_429_with_the_upstream_message(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    with pytest.raises(RateLimited) as info:
        await provider.complete(request("[[status:429]]", images=0), model())
    assert info.value.status == 429
    assert "RESOURCE_EXHAUSTED: Resource has been exhausted" in info.value.message


@pytest.mark.parametrize(
    ("delay", "waited", "header"),
    [("37s", 37.0, "37"), ("1.5s", 1.5, "2"), ("0s", 0.0, "0")],
)
async def test_quota_retry_delay_is_the_backoff_hint_and_the_retry_after(
    provider: GeminiProvider, fake: GeminiFake, delay: str, waited: float, header: str
) -> None:
    """Gemini puts the delay in the 429 body (RetryInfo), not in a header."""
    fake.retry_delay = delay
    with pytest.raises(RateLimited) as info:
        await provider.complete(request("[[status:429]]", images=0), model())
    assert len(fake.requests) == 1
    assert info.value.retry_after_s == waited  # what the routing policy waits
    assert info.value.headers == {"Retry-After": header}  # whole seconds, rounded up


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("37s", 37.0),
        ("1.5s", 1.5),
        ("0.000001s", 0.000001),
        ("99999s", 3600.0),  # clamped to an hour
        ("37", None),
        ("-1s", None),
        ("soons", None),
        ("infs", None),
        ("nans", None),
        ("1e309s", None),
        (37, None),
    ],
)
def test_retry_delay_reads_the_protobuf_duration(value: object, seconds: float | None) -> None:
    other = {"@type": "type.googleapis.com/google.rpc.Help", "links": []}
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": value}
    assert retry_delay({"code": 429, "details": [other, info]}) == seconds


def test_retry_after_falls_back_to_the_header(server: BackgroundApp) -> None:
    adapter = make_provider(server, "AIza-key")
    body = json.dumps({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    assert adapter.retry_after(503, {"retry-after": "5"}, body.encode()) == 5.0
    assert adapter.retry_after(503, {"retry-after": "nan"}, body.encode()) is None
    assert adapter.retry_after(503, {}, b"<html>busy</html>") is None


def test_rate_limit_chunk_keeps_its_retry_delay() -> None:
    """A 429 error chunk that opens a stream reaches the client as an HTTP 429."""
    error = {
        "code": 429,
        "message": "Resource has been exhausted",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}],
    }
    mapped = from_gemini_error(error)
    assert isinstance(mapped, RateLimited)
    assert mapped.headers == {"Retry-After": "3"}


async def test_retired_model_404(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.missing_models = {"gemini-1.5-pro"}
    with pytest.raises(ModelNotFound) as info:
        await provider.complete(request(images=0), model("gemini-1.5-pro"))
    assert "2025-09-24" in info.value.message and "gemini-2.5-pro" in info.value.message
    assert "VISIONGATE_FOLLOW_SUCCESSORS" in info.value.message
    assert "is not found for API version v1beta" in info.value.message


async def test_wrong_key_never_shows_the_key(server: BackgroundApp, fake: GeminiFake) -> None:
    adapter = make_provider(server, "AIza-wrong-SECRET-555")
    await adapter.start()
    try:
        with pytest.raises(GatewayError) as info:
            await adapter.complete(request(images=0), model())
    finally:
        await adapter.close()
    assert info.value.status == 502  # Gemini says 400, but the client's request is fine
    assert "API key not valid" in info.value.message and "GEMINI_API_KEY" in info.value.message
    assert "SECRET" not in json.dumps(info.value.to_dict())


async def test_error_chunk_mid_stream_raises(provider: GeminiProvider, fake: GeminiFake) -> None:
    seen: list[StreamDelta] = []
    with pytest.raises(UpstreamError) as info:
        async with asyncio.timeout(20):
            async for delta in provider.stream(request("[[error:UNAVAILABLE]]", images=0), model()):
                seen.append(delta)
    assert "UNAVAILABLE: The model is overloaded." in info.value.message
    assert any(d.content for d in seen)


async def test_stream_broken_halfway(provider: GeminiProvider, fake: GeminiFake) -> None:
    with pytest.raises(UpstreamError):
        await collect(provider.stream(request("[[break:1]]", images=0), model()))


async def test_slow_upstream_becomes_504(server: BackgroundApp, fake: GeminiFake) -> None:
    adapter = make_provider(server, fake.api_key, upstream_timeout=0.3, upstream_retries=0)
    await adapter.start()
    try:
        with pytest.raises(UpstreamTimeout):
            await adapter.complete(request("[[slow:3]]", images=0), model())
    finally:
        await adapter.close()


async def test_closing_the_stream_cancels_the_upstream_request(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    fake.chunk_delay = 0.3
    stream = provider.stream(request(images=0), model())
    async with asyncio.timeout(10):
        first = [await anext(stream) for _ in range(2)]
    assert first[1].content
    await stream.aclose()
    async with asyncio.timeout(10):
        while fake.disconnects == 0:
            await asyncio.sleep(0.02)
    assert fake.completed_streams == 0


async def test_fake_refuses_gif(provider: GeminiProvider, fake: GeminiFake) -> None:
    """The checker has teeth: GIF bytes declared as PNG are caught and answered 400."""
    bad = request(images=1)
    bad.messages[0].images[0].data = make_image("GIF", (10, 10))
    with pytest.raises(GatewayError) as info:
        await provider.complete(bad, model())
    assert info.value.status == 400
    assert "bytes are image/gif" in info.value.message
