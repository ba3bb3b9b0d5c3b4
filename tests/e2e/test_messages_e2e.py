"""``POST /v1/messages`` and ``/v1/messages/count_tokens`` end to end: the official
``anthropic`` SDK against a real gateway, one model of every provider family behind
wire-checking fakes, and ``local/ocr`` reading rendered words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
import requests
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from tests.support.background import BackgroundApp
from tests.support.clients import anthropic_client
from tests.support.gateway import GatewayProcess
from tests.support.images import make_image, noise_png
from tests.support.upstreams import CATALOG, FAMILY_MODELS, Upstreams, all_upstreams
from tests.support.wire import count_images, sse_events

pytestmark = pytest.mark.timeout(120)

PNG = make_image("PNG", (64, 48), (30, 160, 90))
PNG_B64 = base64.b64encode(PNG).decode()
EVENTS = TypeAdapter(RawMessageStreamEvent)
ADMIN_KEY = "admin-messages-e2e"
LOOKUP = {
    "name": "lookup",
    "description": "Look a city up",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# Tool-call directives in both of the fakes' syntaxes (OpenAI's, and Anthropic's/Gemini's).
CALL = "[[tool:lookup]] [[tool=lookup]]"


def b64_image(**extra: Any) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
    return {"type": "image", "source": source, **extra}


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    with all_upstreams() as ups:
        yield ups


@pytest.fixture(scope="module")
def gw(upstreams: Upstreams) -> Iterator[GatewayProcess]:
    with upstreams.gateway(
        VISIONGATE_UPSTREAM_RETRIES="0",
        VISIONGATE_STREAM_PING_SECONDS="0.2",
        VISIONGATE_MAX_BODY_BYTES="200000",
        VISIONGATE_ADMIN_KEY=ADMIN_KEY,
    ) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _fresh(upstreams: Upstreams) -> None:
    upstreams.reset()


def client(gw: GatewayProcess, key: str | None = None) -> anthropic.Anthropic:
    return anthropic_client(base_url=gw.root, api_key=key or gw.api_key, max_retries=0, timeout=60)


def blocks_for(model_id: str, image_host: BackgroundApp) -> list[dict[str, Any]]:
    """Two images (base64 and URL); one where the model takes only one."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": "What is in these?"}, b64_image()]
    if CATALOG.models[model_id].image.max_images >= 2:
        url = f"{image_host.url}/img/red.jpg"
        blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("family", sorted(FAMILY_MODELS))
def test_images_reach_every_family(
    gw: GatewayProcess, upstreams: Upstreams, image_host: BackgroundApp, family: str, stream: bool
) -> None:
    model_id = FAMILY_MODELS[family]
    content = blocks_for(model_id, image_host)
    kwargs: dict[str, Any] = {
        "model": model_id,
        "max_tokens": 60,
        "system": "You describe images.",
        "messages": [{"role": "user", "content": content}],
    }
    if stream:
        with client(gw).messages.stream(**kwargs) as events:
            kinds = [event.type for event in events]
            message = events.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert "content_block_delta" in kinds and "message_delta" in kinds
    else:
        message = client(gw).messages.create(**kwargs)
    assert message.model == model_id and message.type == "message"
    assert message.id.startswith("msg_") and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.output_tokens > 0 and message.usage.input_tokens > 0
    body = upstreams.fake_for(model_id).requests[-1].body
    assert count_images(body) == len(content) - 1
    assert "You describe images." in json.dumps(body)


@pytest.mark.parametrize("family", ["openai", "anthropic", "google"])
def test_a_tool_round_trip_with_an_image_in_the_tool_result(
    gw: GatewayProcess, upstreams: Upstreams, family: str
) -> None:
    model_id = FAMILY_MODELS[family]
    question = {"role": "user", "content": f"Which city? {CALL}"}
    first = client(gw).messages.create(
        model=model_id, max_tokens=100, tools=[LOOKUP], messages=[question]
    )
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "lookup" and isinstance(uses[0].input, dict)
    result = {
        "type": "tool_result",
        "tool_use_id": uses[0].id,
        "content": [{"type": "text", "text": "Found a photo of Paris."}, b64_image()],
    }
    second = client(gw).messages.create(
        model=model_id,
        max_tokens=100,
        tools=[LOOKUP],
        messages=[
            question,
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {"role": "user", "content": [result]},
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].text
    body = upstreams.fake_for(model_id).requests[-1].body
    assert count_images(body) == 1
    if family == "anthropic":
        sent = body["messages"][-1]["content"][0]
        assert sent["tool_use_id"] == uses[0].id
        assert [b["type"] for b in sent["content"]] == ["text", "image"]
        assert sent["content"][1]["source"]["data"] == PNG_B64
    elif family == "google":
        parts = body["contents"][-1]["parts"]
        assert "functionResponse" in parts[0] and parts[1]["inlineData"]["data"] == PNG_B64
    else:
        assert [m["role"] for m in body["messages"]][-3:] == ["assistant", "tool", "user"]
        assert body["messages"][-2]["content"] == "Found a photo of Paris."


def test_nothing_is_lost_on_the_way_to_anthropic(gw: GatewayProcess, upstreams: Upstreams) -> None:
    """cache_control on every kind of block, top_k, stop sequences, thinking handed back
    to a model that has none refused; and the cache usage comes back."""
    ephemeral = {"type": "ephemeral"}
    message = client(gw).messages.create(
        model="claude-3-haiku-latest",
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief.", "cache_control": ephemeral}],
        tools=[{**LOOKUP, "cache_control": ephemeral}],
        messages=[
            {
                "role": "user",
                "content": [
                    b64_image(cache_control={"type": "ephemeral", "ttl": "1h"}),
                    {"type": "text", "text": "What is it? [[cache]]", "cache_control": ephemeral},
                ],
            }
        ],
        stop_sequences=["saw"],
        extra_body={"top_k": 5},
    )
    body = upstreams.anthropic.requests[-1].body
    assert body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": ephemeral}]
    assert body["tools"][0]["cache_control"] == ephemeral
    image, text = body["messages"][0]["content"]
    assert image["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert text["cache_control"] == ephemeral
    assert body["top_k"] == 5 and body["stop_sequences"] == ["saw"]
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "saw"
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 20


def test_cache_usage_and_stop_sequence_come_back_in_a_stream(gw: GatewayProcess) -> None:
    with client(gw).messages.stream(
        model="claude-3-haiku-latest",
        max_tokens=100,
        messages=[{"role": "user", "content": "Describe [[cache]]"}],
        stop_sequences=["saw"],
    ) as events:
        message = events.get_final_message()
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "saw"
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 20


def thinking_turns() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Think first."},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Let me see.", "signature": "sig"},
                {"type": "text", "text": "Done thinking."},
            ],
        },
        {"role": "user", "content": "And now?"},
    ]


def test_a_thinking_block_for_a_model_without_thinking_is_a_400(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(
            model="claude-3-haiku-latest", max_tokens=50, messages=thinking_turns()
        )
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["code"] == "unsupported_content" and error["param"] == "messages[1].content[0]"
    assert not upstreams.anthropic.requests


def test_thinking_goes_back_to_a_model_with_thinking(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    client(gw).messages.create(model="claude-haiku-4-5", max_tokens=50, messages=thinking_turns())
    sent = upstreams.anthropic.requests[-1].body["messages"][1]["content"]
    assert sent[0] == {"type": "thinking", "thinking": "Let me see.", "signature": "sig"}
    assert sent[1] == {"type": "text", "text": "Done thinking."}


def test_thinking_is_left_out_for_a_provider_without_the_concept(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    client(gw).messages.create(model="gpt-4o", max_tokens=50, messages=thinking_turns())
    sent = upstreams.openai["openai"].requests[-1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": "Done thinking."}


def test_local_ocr_reads_the_words(gw: GatewayProcess, image_host: BackgroundApp) -> None:
    url = f"{image_host.url}/img/sign.png"
    message = client(gw).messages.create(
        model="local/ocr",
        max_tokens=200,
        messages=[
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": url}}]}
        ],
    )
    assert "OPEN DAILY" in message.content[0].text


def test_count_tokens_includes_the_images(gw: GatewayProcess, upstreams: Upstreams) -> None:
    text_only = client(gw).messages.count_tokens(
        model="claude-3-haiku-latest", messages=[{"role": "user", "content": "What is it?"}]
    )
    with_image = client(gw).messages.count_tokens(
        model="claude-3-haiku-latest",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "What is it?"}, b64_image()]}
        ],
    )
    assert text_only.input_tokens > 0
    assert with_image.input_tokens > text_only.input_tokens
    assert not upstreams.anthropic.requests  # counted by the gateway, not the provider


def raw_events(gw: GatewayProcess, body: dict[str, Any]) -> list[tuple[str | None, dict]]:
    with requests.post(
        f"{gw.root}/v1/messages",
        json={**body, "stream": True},
        headers={"x-api-key": gw.api_key, "anthropic-version": "2023-06-01"},
        stream=True,
        timeout=60,
    ) as answer:
        assert answer.status_code == 200
        return [(name, json.loads(data)) for name, data in sse_events(answer.iter_content(None))]


@pytest.mark.parametrize("family", ["openai", "anthropic", "google"])
def test_stream_events_validate_against_the_sdk_types(gw: GatewayProcess, family: str) -> None:
    events = raw_events(
        gw,
        {
            "model": FAMILY_MODELS[family],
            "max_tokens": 100,
            "tools": [LOOKUP],
            "messages": [{"role": "user", "content": f"Say, then call. {CALL}"}],
        },
    )
    kinds = []
    for name, data in events:
        assert name == data["type"]
        if name != "ping":
            EVENTS.validate_python(data)
        kinds.append(name)
    kinds = [k for k in kinds if k != "ping"]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts[-1]["type"] == "tool_use" and starts[-1]["name"] == "lookup"
    pieces = [
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert isinstance(json.loads("".join(pieces)), dict)
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_a_silent_provider_gets_ping_events(gw: GatewayProcess) -> None:
    events = raw_events(
        gw,
        {
            "model": "gpt-4o",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "Slowly [[chunk_delay=0.5]] [[chunks=3]]"}],
        },
    )
    names = [name for name, _ in events]
    assert "ping" in names
    assert names[0] == "message_start" and names[-1] == "message_stop"


def test_an_error_after_the_stream_started_is_an_error_event(gw: GatewayProcess) -> None:
    events = raw_events(
        gw,
        {
            "model": "gpt-4o",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "Go [[stream_error=3]]"}],
        },
    )
    name, data = events[-1]
    assert name == "error" and data["type"] == "error"
    assert (
        data["error"]["type"] in ("api_error", "invalid_request_error") and data["error"]["message"]
    )
    with (
        pytest.raises(anthropic.APIStatusError),
        client(gw).messages.stream(
            model="gpt-4o",
            max_tokens=50,
            messages=[{"role": "user", "content": "Go [[stream_error=3]]"}],
        ) as stream,
    ):
        stream.get_final_message()


def restricted_key(gw: GatewayProcess) -> str:
    answer = requests.post(
        f"{gw.root}/v1/admin/keys",
        json={"name": "only-gpt", "models": ["gpt-4o"]},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


def test_every_error_path_is_anthropic_shaped(gw: GatewayProcess, upstreams: Upstreams) -> None:
    hello = [{"role": "user", "content": "hello"}]
    cases: list[tuple[type[Exception], int, str, dict[str, Any], str | None]] = [
        (anthropic.BadRequestError, 400, "invalid_request_error", {"temperature": 5}, None),
        (anthropic.NotFoundError, 404, "not_found_error", {"model": "no-such-model"}, None),
        (anthropic.AuthenticationError, 401, "authentication_error", {}, "wrong-key"),
        (
            anthropic.PermissionDeniedError,
            403,
            "permission_error",
            {"model": "claude-3-haiku-latest"},
            "restricted",
        ),
        (
            anthropic.RateLimitError,
            429,
            "rate_limit_error",
            {"messages": [{"role": "user", "content": "x [[status=429]]"}]},
            None,
        ),
        (
            anthropic.InternalServerError,
            502,
            "api_error",
            {"messages": [{"role": "user", "content": "x [[status=500]]"}]},
            None,
        ),
        (
            anthropic.APIStatusError,
            413,
            "request_too_large",
            {"messages": [{"role": "user", "content": "x" * 300_000}]},
            None,
        ),
    ]
    restricted = restricted_key(gw)
    for error_class, status, kind, extra, key in cases:
        body: dict[str, Any] = {"model": "gpt-4o", "max_tokens": 20, "messages": hello, **extra}
        api_key = restricted if key == "restricted" else key
        answer = requests.post(
            f"{gw.root}/v1/messages",
            json=body,
            headers={"x-api-key": api_key or gw.api_key, "anthropic-version": "2023-06-01"},
            timeout=60,
        )
        assert answer.status_code == status, (status, answer.text)
        error = answer.json()
        assert error["type"] == "error" and error["error"]["type"] == kind
        assert error["error"]["message"]
        known = {k: v for k, v in body.items() if k in ("model", "max_tokens", "messages")}
        extra_body = {k: v for k, v in body.items() if k not in known}
        with pytest.raises(error_class):
            client(gw, api_key).messages.create(**known, extra_body=extra_body)


def test_bearer_auth_works_too_and_usage_names_the_surface(gw: GatewayProcess) -> None:
    answer = requests.post(
        f"{gw.root}/v1/messages",
        json={"model": "gpt-4o", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {gw.api_key}", "anthropic-beta": "anything"},
        timeout=60,
    )
    assert answer.status_code == 200 and answer.json()["type"] == "message"
    lines = [json.loads(line) for line in gw.log_text().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("msg") == "request"]
    assert logged[-1]["endpoint"] == "messages"
    metrics = requests.get(f"{gw.root}/metrics", timeout=10).text
    assert 'endpoint="messages",model="gpt-4o"' in metrics
    assert 'endpoint="messages.count_tokens"' in metrics or "count_tokens" not in metrics


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_a_large_base64_image_reaches_the_provider_byte_for_byte(
    gw: GatewayProcess, upstreams: Upstreams, family: str
) -> None:
    """A body large enough for the gateway to cut the base64 out before parsing."""
    data = base64.b64encode(noise_png((200, 150), seed=6)).decode()
    model_id = FAMILY_MODELS[family]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    client(gw).messages.create(
        model=model_id,
        max_tokens=20,
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}],
    )
    body = upstreams.fake_for(model_id).requests[-1].body
    if family == "anthropic":
        assert body["messages"][0]["content"][1]["source"]["data"] == data
    else:
        assert (
            body["messages"][0]["content"][1]["image_url"]["url"] == f"data:image/png;base64,{data}"
        )
