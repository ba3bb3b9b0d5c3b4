"""to_anthropic_payload: the internal request → Messages API body, checked two ways: golden
shapes, and the fake upstream's own rule checker (what the real API would refuse)."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.anthropic_upstream import check_messages_request
from tests.support.images import make_image
from tests.support.wire import ascii_text, on_the_wire
from visiongate.core.catalog import ModelEntry, load_catalog
from visiongate.core.messages import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolSpec,
)
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.providers.anthropic import AnthropicProvider, to_anthropic_payload
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)

HEADERS = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def haiku() -> ModelEntry:
    return load_catalog(environ={}).models["claude-3-haiku-latest"]


def image(param: str, fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> ImagePart:
    data = make_image(fmt, size)
    media = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
    return ImagePart(param=param, data=data, media_type=media[fmt], width=size[0], height=size[1])


def user(*parts: str | ImagePart) -> Message:
    return Message("user", [TextPart(p) if isinstance(p, str) else p for p in parts])


def valid(payload: dict) -> dict:
    payload = on_the_wire(payload)
    assert check_messages_request(HEADERS, payload) == []
    return payload


def test_minimal_request_gets_model_name_and_default_max_tokens(haiku: ModelEntry) -> None:
    payload = valid(to_anthropic_payload(ChatRequest("claude-3-haiku-latest", [user("hi")]), haiku))
    assert payload == {
        "model": "claude-3-haiku-20240307",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
    }


def test_max_tokens_is_capped_at_the_catalog_limit(haiku: ModelEntry) -> None:
    big = ChatRequest("m", [user("hi")], max_tokens=100_000)
    small = ChatRequest("m", [user("hi")], max_tokens=50)
    assert to_anthropic_payload(big, haiku)["max_tokens"] == haiku.max_output_tokens
    assert to_anthropic_payload(small, haiku)["max_tokens"] == 50


def test_system_and_developer_messages_become_top_level_system_in_order(haiku: ModelEntry) -> None:
    request = ChatRequest(
        "m",
        [
            Message("system", [TextPart("Be brief.")]),
            Message("developer", [TextPart("Answer in French.")]),
            user("hi"),
            Message("assistant", [TextPart("Salut")]),
            Message("system", [TextPart("Late rule.")]),
            user("again"),
        ],
    )
    payload = valid(to_anthropic_payload(request, haiku))
    assert payload["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Answer in French."},
        {"type": "text", "text": "Late rule."},
    ]
    assert [m["role"] for m in payload["messages"]] == ["user", "assistant", "user"]


def test_consecutive_same_role_messages_are_merged(haiku: ModelEntry) -> None:
    request = ChatRequest("m", [user("one"), user("two"), Message("assistant", [TextPart("a")])])
    request.messages.append(user("three"))
    payload = valid(to_anthropic_payload(request, haiku))
    assert payload["messages"][0] == {
        "role": "user",
        "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
    }
    assert len(payload["messages"]) == 3


def test_images_become_base64_blocks_in_every_turn_they_appear(haiku: ModelEntry) -> None:
    first, second = image("messages[0].content[1]"), image("messages[2].content[0]", "JPEG")
    request = ChatRequest(
        "m",
        [
            user("what is this?", first),
            Message("assistant", [TextPart("A red square.")]),
            user(second, "and this one?"),
        ],
    )
    payload = valid(to_anthropic_payload(request, haiku))
    block = payload["messages"][0]["content"][1]
    assert block == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": ascii_text(first.base64())},
    }
    assert base64.b64decode(block["source"]["data"]) == first.data
    later = payload["messages"][2]["content"]
    assert later[0]["source"]["media_type"] == "image/jpeg"
    assert later[1] == {"type": "text", "text": "and this one?"}


def test_image_without_bytes_is_a_server_bug_not_a_silent_drop(haiku: ModelEntry) -> None:
    part = ImagePart(param="messages[0].content[0]", url="https://example.com/a.png")
    with pytest.raises(GatewayError, match="without its bytes") as info:
        to_anthropic_payload(ChatRequest("m", [user(part)]), haiku)
    assert info.value.status == 500


def test_url_source_when_the_catalog_allows_pass_through(haiku: ModelEntry) -> None:
    from dataclasses import replace

    passthrough = replace(haiku, image=replace(haiku.image, url_passthrough=True))
    part = ImagePart(param="p", url="https://example.com/a.png")
    payload = valid(to_anthropic_payload(ChatRequest("m", [user(part)]), passthrough))
    assert payload["messages"][0]["content"][0]["source"] == {
        "type": "url",
        "url": "https://example.com/a.png",
    }


def test_sampling_parameters(haiku: ModelEntry) -> None:
    request = ChatRequest(
        "m", [user("hi")], temperature=1.7, top_p=0.9, stop=["END", "\n\n"], user="u-42", seed=7
    )
    payload = valid(to_anthropic_payload(request, haiku, stream=True))
    assert payload["temperature"] == 1.0
    assert payload["top_p"] == 0.9
    assert payload["stop_sequences"] == ["END", "\n\n"]
    assert payload["metadata"] == {"user_id": "u-42"}
    assert payload["stream"] is True
    assert "seed" not in payload  # a sampling hint the API lacks: ignored, as documented
    negative = to_anthropic_payload(ChatRequest("m", [user("hi")], temperature=-1), haiku)
    assert negative["temperature"] == 0.0


WEATHER = ToolSpec(
    "get_weather",
    "Current weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ("get_weather", None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
def test_tools_and_tool_choice(
    haiku: ModelEntry, choice: str | None, parallel: bool | None, expected: dict | None
) -> None:
    request = ChatRequest(
        "m", [user("weather?")], tools=[WEATHER], tool_choice=choice, parallel_tool_calls=parallel
    )
    payload = valid(to_anthropic_payload(request, haiku))
    assert payload["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert payload.get("tool_choice") == expected


def test_tool_without_parameters_gets_an_empty_object_schema(haiku: ModelEntry) -> None:
    request = ChatRequest("m", [user("now?")], tools=[ToolSpec("clock")])
    payload = valid(to_anthropic_payload(request, haiku))
    assert payload["tools"] == [
        {"name": "clock", "input_schema": {"type": "object", "properties": {}}}
    ]


def test_tool_round_trip_becomes_tool_use_and_tool_result_blocks(haiku: ModelEntry) -> None:
    shot = image("messages[2].content[1]")
    request = ChatRequest(
        "m",
        [
            user("weather in Paris and Rome?"),
            Message(
                "assistant",
                [TextPart("Checking.")],
                tool_calls=[
                    ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
                    ToolCall("call_2", "get_weather", '{"city": "Rome"}'),
                ],
            ),
            Message("tool", [TextPart("18C"), shot], tool_call_id="call_1"),
            Message("tool", [TextPart("24C")], tool_call_id="call_2"),
            user("thanks, which is warmer?"),
        ],
        tools=[WEATHER],
    )
    payload = valid(to_anthropic_payload(request, haiku))
    assistant, results = payload["messages"][1], payload["messages"][2]
    assert assistant["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    assert results["role"] == "user"
    first, second, question = results["content"]
    assert first["type"] == "tool_result" and first["tool_use_id"] == "call_1"
    assert first["content"][0] == {"type": "text", "text": "18C"}
    assert first["content"][1]["type"] == "image"
    assert second == {
        "type": "tool_result",
        "tool_use_id": "call_2",
        "content": [{"type": "text", "text": "24C"}],
    }
    assert question == {"type": "text", "text": "thanks, which is warmer?"}
    assert len(payload["messages"]) == 3


def test_bad_tool_arguments_name_the_field(haiku: ModelEntry) -> None:
    request = ChatRequest(
        "m",
        [
            user("x"),
            Message("assistant", [], tool_calls=[ToolCall("c", "f", "{not json")]),
            Message("tool", [TextPart("r")], tool_call_id="c"),
        ],
    )
    with pytest.raises(InvalidRequest) as info:
        to_anthropic_payload(request, haiku)
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_final_assistant_prefill_is_trimmed(haiku: ModelEntry) -> None:
    request = ChatRequest("m", [user("Say JSON"), Message("assistant", [TextPart("{ \n")])])
    payload = valid(to_anthropic_payload(request, haiku))
    assert payload["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "{"}],
    }


def test_empty_messages_are_dropped_without_breaking_alternation(haiku: ModelEntry) -> None:
    request = ChatRequest("m", [user("a"), Message("assistant", [TextPart("")]), user("b")])
    payload = valid(to_anthropic_payload(request, haiku))
    assert payload["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [Message("system", [TextPart("s"), image("messages[0].content[1]")]), user("x")],
            "messages[0].content[1]",
        ),
        (
            [user("x"), Message("assistant", [image("messages[1].content[0]")])],
            "messages[1].content[0]",
        ),
        ([Message("assistant", [TextPart("hello")]), user("x")], "messages[0].role"),
        ([Message("system", [TextPart("only system")])], "messages"),
        ([user("x"), Message("tool", [TextPart("r")])], "messages[1].tool_call_id"),
    ],
)
def test_what_the_api_cannot_express_is_a_400_before_image_work(
    haiku: ModelEntry, messages: list[Message], param: str
) -> None:
    request = ChatRequest("m", messages)
    provider = AnthropicProvider(load_catalog(environ={}).providers["anthropic"], Settings())
    with pytest.raises(InvalidRequest) as info:
        provider.check(request, haiku)
    assert info.value.status == 400
    assert info.value.param == param


def test_check_refuses_json_mode_and_n(haiku: ModelEntry) -> None:
    provider = AnthropicProvider(load_catalog(environ={}).providers["anthropic"], Settings())
    with pytest.raises(InvalidRequest) as info:
        provider.check(
            ChatRequest("m", [user("x")], response_format={"type": "json_object"}), haiku
        )
    assert info.value.param == "response_format"
    with pytest.raises(InvalidRequest) as info:
        provider.check(ChatRequest("m", [user("x")], n=2), haiku)
    assert info.value.param == "n"
