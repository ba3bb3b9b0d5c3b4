"""Every Anthropic and Gemini catalog model through a real gateway, the official openai SDK
as the client, and fake upstreams on 127.0.0.1 that check the providers' wire formats.

One gateway process serves the module (plus one with VISIONGATE_FOLLOW_SUCCESSORS=1 for
the routing test); the fakes record what they received, so each test asserts both sides.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from PIL import Image

from tests.fakes.anthropic_upstream import AnthropicFake
from tests.fakes.common import Received
from tests.fakes.gemini_upstream import GeminiFake
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image
from visiongate.core.catalog import load_catalog

pytestmark = pytest.mark.timeout(120)

CATALOG = load_catalog(environ={})
MODELS = sorted(m.id for m in CATALOG.models.values() if m.provider in ("anthropic", "google"))


@dataclass
class Upstreams:
    anthropic: AnthropicFake
    gemini: GeminiFake
    anthropic_url: str
    gemini_url: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "ANTHROPIC_BASE_URL": self.anthropic_url,
            "ANTHROPIC_API_KEY": self.anthropic.api_key,
            "GEMINI_BASE_URL": self.gemini_url,
            "GEMINI_API_KEY": self.gemini.api_key,
            **extra,
        }

    def fake_for(self, model_id: str) -> AnthropicFake | GeminiFake:
        return self.anthropic if CATALOG.models[model_id].provider == "anthropic" else self.gemini

    def reset(self) -> None:
        for fake in (self.anthropic, self.gemini):
            fake.requests.clear()
            fake.missing_models.clear()
            fake.failures.clear()
        self.anthropic.stream_errors.clear()
        self.gemini.retry_delay = "0s"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    anthropic, gemini = AnthropicFake(), GeminiFake()
    with BackgroundApp(anthropic.app()) as a, BackgroundApp(gemini.app()) as g:
        yield Upstreams(anthropic, gemini, a.url, g.url)


@pytest.fixture(scope="module")
def gw(upstreams: Upstreams) -> Iterator[GatewayProcess]:
    with run_gateway(env=upstreams.env()) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _fresh_fakes(upstreams: Upstreams) -> None:
    upstreams.reset()


def two_images(image_host: BackgroundApp) -> list[dict]:
    """An http URL the gateway must fetch and inline, and a data URL."""
    return [
        {"type": "text", "text": "What is in these two images?"},
        {"type": "image_url", "image_url": {"url": f"{image_host.url}/img/red.jpg"}},
        {
            "type": "image_url",
            "image_url": {"url": data_url(make_image("PNG", (40, 30)), "image/png")},
        },
    ]


def upstream_model(received: Received) -> str:
    if received.path.startswith("/v1beta/models/"):
        return received.path.removeprefix("/v1beta/models/").split(":")[0]
    return received.body["model"]


def received_images(received: Received) -> list[tuple[str, bytes]]:
    """(declared media type, bytes) of every image the upstream received."""
    out: list[tuple[str, bytes]] = []
    if "messages" in received.body:
        for message in received.body["messages"]:
            for block in message["content"]:
                if block["type"] == "image":
                    source = block["source"]
                    out.append((source["media_type"], base64.b64decode(source["data"])))
    else:
        for content in received.body["contents"]:
            for part in content["parts"]:
                if "inlineData" in part:
                    inline = part["inlineData"]
                    out.append((inline["mimeType"], base64.b64decode(inline["data"])))
    return out


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model_id", MODELS)
def test_every_model_with_two_images(
    gw: GatewayProcess,
    upstreams: Upstreams,
    image_host: BackgroundApp,
    model_id: str,
    stream: bool,
) -> None:
    client = gw.client()
    messages = [{"role": "user", "content": two_images(image_host)}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=model_id,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert all(c.model == model_id and c.object == "chat.completion.chunk" for c in chunks)
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop"
        usage = chunks[-1].usage
        assert chunks[-1].choices == []
    else:
        completion = client.chat.completions.create(model=model_id, messages=messages)
        assert completion.object == "chat.completion" and completion.model == model_id
        text = completion.choices[0].message.content or ""
        assert completion.choices[0].finish_reason == "stop"
        usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    fake = upstreams.fake_for(model_id)
    assert fake.violations == []
    received = fake.last
    assert upstream_model(received) == CATALOG.models[model_id].upstream
    images = received_images(received)
    assert [mime for mime, _ in images] == ["image/jpeg", "image/png"]
    assert [size_of(data) for _, data in images] == [(320, 240), (40, 30)]
    assert "saw 2 image(s)" in text


def test_alias_resolves_to_the_dated_upstream_name(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    gw.client().chat.completions.create(
        model="claude-3-haiku-latest", messages=[{"role": "user", "content": "hi"}]
    )
    assert upstreams.anthropic.last.body["model"] == "claude-3-haiku-20240307"


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_gemini_gets_gif_and_bmp_converted(
    gw: GatewayProcess, upstreams: Upstreams, fmt: str
) -> None:
    original = make_image(fmt, (50, 40))
    mime = f"image/{fmt.lower()}"
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url(original, mime)}},
    ]
    completion = gw.client().chat.completions.create(
        model="gemini-1.5-pro", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content
    assert upstreams.gemini.violations == []
    [(declared, data)] = received_images(upstreams.gemini.last)
    assert declared in ("image/png", "image/jpeg")
    assert data != original and size_of(data) == (50, 40)


def test_large_image_reaches_claude_at_most_1568_px(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    big = make_image("JPEG", (3000, 2000), quality=80)
    content = [{"type": "image_url", "image_url": {"url": data_url(big, "image/jpeg")}}]
    gw.client().chat.completions.create(
        model="claude-3-5-sonnet-latest", messages=[{"role": "user", "content": content}]
    )
    assert upstreams.anthropic.violations == []
    [(_, data)] = received_images(upstreams.anthropic.last)
    width, height = size_of(data)
    assert max(width, height) <= 1568
    assert abs(width / height - 1.5) < 0.01


@pytest.mark.parametrize(
    ("model_id", "upstream", "retired", "successor"),
    [
        ("claude-3-opus-latest", "claude-3-opus-20240229", "2026-01-05", "claude-opus-5-5"),
        ("gemini-1.5-pro", "gemini-1.5-pro", "2025-09-24", "gemini-2.5-pro"),
    ],
)
def test_retired_model_gone_upstream_is_a_helpful_404(
    gw: GatewayProcess,
    upstreams: Upstreams,
    model_id: str,
    upstream: str,
    retired: str,
    successor: str,
) -> None:
    upstreams.fake_for(model_id).missing_models.add(upstream)
    with pytest.raises(openai.NotFoundError) as info:
        gw.client().chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "hi"}]
        )
    error = info.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found"
    message = error["message"]
    assert retired in message and successor in message
    assert "VISIONGATE_FOLLOW_SUCCESSORS" in message


def test_follow_successors_routes_to_the_end_of_the_chain(upstreams: Upstreams) -> None:
    """Claude 3 Opus goes to its successor; Gemini 1.5 Pro's successor (2.5 Pro) was shut
    down in its turn, so the request lands on the one after it."""
    upstreams.anthropic.missing_models.add("claude-3-opus-20240229")
    upstreams.gemini.missing_models.update({"gemini-1.5-pro", "gemini-2.5-pro"})
    env = upstreams.env(VISIONGATE_FOLLOW_SUCCESSORS="1")
    cases = [("claude-3-opus-latest", "claude-opus-5-5"), ("gemini-1.5-pro", "gemini-3.8-flash")]
    with run_gateway(env=env) as gateway:
        for model_id, final in cases:
            raw = gateway.client().chat.completions.with_raw_response.create(
                model=model_id, messages=[{"role": "user", "content": "hi"}]
            )
            completion = raw.parse()
            assert raw.headers["x-visiongate-upstream-model"] == final
            assert upstream_model(upstreams.fake_for(model_id).last) == final
            assert completion.model == model_id
            assert final in (completion.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("model_id", "directive", "upstream_says"),
    [
        ("claude-3-haiku-20240307", "[[error_after:2]]", "overloaded_error"),
        ("gemini-2.0-flash-exp", "[[error:UNAVAILABLE]]", "UNAVAILABLE"),
    ],
)
def test_error_mid_stream_makes_the_sdk_raise(
    gw: GatewayProcess, model_id: str, directive: str, upstream_says: str
) -> None:
    stream = gw.client().chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": f"Tell me a story {directive}"}],
        stream=True,
    )
    text = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert text  # the error came after some of the answer had been sent
    assert upstream_says in str(info.value)


def test_gemini_quota_429_tells_the_client_when_to_retry(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    """Gemini's delay is in the 429 body (RetryInfo); the client gets it as Retry-After."""
    upstreams.gemini.retry_delay = "0.1s"
    with pytest.raises(openai.RateLimitError) as info:
        gw.client().chat.completions.create(
            model="gemini-2.0-flash-exp",
            messages=[{"role": "user", "content": "hi [[status:429]]"}],
        )
    assert info.value.response.headers["retry-after"] == "1"  # whole seconds, rounded up
    assert len(upstreams.gemini.requests) == 3  # the gateway's own retries came first
    assert info.value.code == "rate_limit_exceeded"


def test_claude_overload_before_any_output_is_retried_unseen(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    """HTTP 200 whose first event is overloaded_error: the client sees a normal stream."""
    upstreams.anthropic.stream_errors = ["overloaded_error"]
    chunks = list(
        gw.client().chat.completions.create(
            model="claude-3-haiku-latest",
            messages=[{"role": "user", "content": "Describe nothing."}],
            stream=True,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "saw 0 image(s)" in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len(upstreams.anthropic.requests) == 2
    assert upstreams.anthropic.violations == []


@pytest.mark.parametrize("model_id", ["claude-3-5-haiku-latest", "gemini-1.5-flash"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tool_call_through_the_sdk(
    gw: GatewayProcess, upstreams: Upstreams, model_id: str, stream: bool
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    kwargs = {
        "model": model_id,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": tools,
        "tool_choice": "required",
    }
    if stream:
        chunks = list(gw.client().chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
        pieces = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
        assert pieces[0].id and pieces[0].function.name == "get_weather"
        arguments = "".join(p.function.arguments or "" for p in pieces)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        choice = gw.client().chat.completions.create(**kwargs).choices[0]  # type: ignore[call-overload]
        [call] = choice.message.tool_calls or []
        assert call.id and call.function.name == "get_weather"
        arguments, finish = call.function.arguments, choice.finish_reason
    assert json.loads(arguments) == {"city": "Paris"}
    assert finish == "tool_calls"
    assert upstreams.fake_for(model_id).violations == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_gemini_safety_block_is_content_filter(gw: GatewayProcess, stream: bool) -> None:
    kwargs = {
        "model": "gemini-1.5-flash",
        "messages": [{"role": "user", "content": "something bad [[block:SAFETY]]"}],
    }
    if stream:
        chunks = list(gw.client().chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        choice = gw.client().chat.completions.create(**kwargs).choices[0]  # type: ignore[call-overload]
        text, finish = choice.message.content or "", choice.finish_reason
    assert finish == "content_filter"
    assert "blocked the prompt (SAFETY)" in text


def test_claude_refuses_json_mode_with_a_clear_400(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().chat.completions.create(
            model="claude-3-haiku-latest",
            messages=[{"role": "user", "content": "json"}],
            response_format={"type": "json_object"},
        )
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == "response_format"
    assert upstreams.anthropic.requests == []


@pytest.mark.parametrize("model_id", ["claude-3-haiku-latest", "gemini-1.5-flash"])
def test_provider_keys_never_reach_clients_or_the_log(
    gw: GatewayProcess, upstreams: Upstreams, model_id: str
) -> None:
    """Upstream failures of every kind, then a look at what the client and the log got."""
    client = gw.client()
    fake = upstreams.fake_for(model_id)
    bodies: list[str] = []
    for directive in ("[[status:401]]", "[[status:403]]", "[[status:400]]", "[[status:500]]"):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model=model_id, messages=[{"role": "user", "content": f"x {directive}"}]
            )
        bodies.append(info.value.response.text)
    assert fake.violations == []
    keys = (upstreams.anthropic.api_key, upstreams.gemini.api_key)
    for text in [*bodies, gw.log_text()]:
        assert not any(key in text for key in keys)
