"""The request direction of the OpenAI adapter: internal messages -> Chat Completions JSON."""

from __future__ import annotations

import base64

import pytest

from tests.support.images import make_image
from tests.support.wire import on_the_wire
from visiongate.core.catalog import ImageLimits, ModelEntry, ProviderEntry
from visiongate.core.messages import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolSpec,
)
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.providers.openai import to_openai_messages, to_openai_payload
from visiongate.providers.openai_compat import HostProfile

MODEL = ModelEntry(
    id="gpt-4o",
    provider="openai",
    upstream="gpt-4o-2024-08-06",
    image=ImageLimits(),
    capabilities=frozenset({"vision", "streaming", "tools", "json_mode", "n", "seed"}),
)
OPENAI = HostProfile.from_entry(
    ProviderEntry(
        name="openai",
        kind="openai",
        base_url="https://api.openai.com/v1",
        quirks=frozenset({"max_completion_tokens", "developer_role", "stream_obfuscation"}),
    )
)
COMPAT = HostProfile()
MINIMAX = HostProfile.from_entry(
    ProviderEntry(
        name="minimax",
        kind="openai",
        base_url="https://api.minimax.io",
        quirks=frozenset({"minimax_base_resp", "minimax_final_chunk", "temperature_max_1"}),
    )
)
PNG = make_image("PNG", (8, 8))


def user(*parts: TextPart | ImagePart) -> Message:
    return Message("user", list(parts))


def test_minimal_request_carries_upstream_model_and_nothing_unset() -> None:
    request = ChatRequest(model="gpt-4o", messages=[user(TextPart("Hello"))])
    assert to_openai_payload(request, MODEL, OPENAI) == {
        "model": "gpt-4o-2024-08-06",
        "messages": [{"role": "user", "content": "Hello"}],
    }


def test_every_honoured_field_is_mapped() -> None:
    request = ChatRequest(
        model="gpt-4o",
        messages=[user(TextPart("Reply in JSON"))],
        max_tokens=64,
        temperature=0.2,
        top_p=0.9,
        stop=["END", "\n\n"],
        n=2,
        seed=7,
        response_format={"type": "json_object"},
        tools=[
            ToolSpec(
                name="get_weather",
                description="Weather for a city",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}},
                strict=True,
            ),
            ToolSpec(name="noop"),
        ],
        tool_choice="get_weather",
        parallel_tool_calls=False,
        user="user-42",
        presence_penalty=0.5,
        frequency_penalty=-0.5,
    )
    payload = to_openai_payload(request, MODEL, OPENAI)
    assert payload == {
        "model": "gpt-4o-2024-08-06",
        "messages": [{"role": "user", "content": "Reply in JSON"}],
        "max_completion_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END", "\n\n"],
        "n": 2,
        "seed": 7,
        "response_format": {"type": "json_object"},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                    },
                    "strict": True,
                },
            },
            {"type": "function", "function": {"name": "noop"}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "user": "user-42",
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
    }


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_keywords_pass_as_strings(choice: str) -> None:
    request = ChatRequest(
        model="gpt-4o",
        messages=[user(TextPart("x"))],
        tools=[ToolSpec(name="f")],
        tool_choice=choice,
    )
    assert to_openai_payload(request, MODEL, OPENAI)["tool_choice"] == choice


def test_seed_is_left_out_for_a_model_without_the_capability() -> None:
    request = ChatRequest(model="m", messages=[user(TextPart("x"))], seed=5)
    unseeded = ModelEntry(id="m", provider="minimax", upstream="m", image=ImageLimits())
    assert "seed" not in to_openai_payload(request, unseeded, MINIMAX)
    assert to_openai_payload(request, MODEL, OPENAI)["seed"] == 5


def test_compatible_hosts_get_max_tokens_and_system_for_developer() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message("developer", [TextPart("Be terse")]), user(TextPart("Hi"))],
        max_tokens=10,
    )
    compat = to_openai_payload(request, MODEL, COMPAT)
    assert compat["max_tokens"] == 10 and "max_completion_tokens" not in compat
    assert compat["messages"][0] == {"role": "system", "content": "Be terse"}
    native = to_openai_payload(request, MODEL, OPENAI)
    assert native["messages"][0] == {"role": "developer", "content": "Be terse"}


def test_stream_always_asks_for_usage_unless_the_host_refuses_stream_options() -> None:
    request = ChatRequest(model="m", messages=[user(TextPart("x"))], stream=True)
    assert request.include_usage is False
    payload = to_openai_payload(request, MODEL, OPENAI)
    assert payload["stream"] is True
    assert payload["stream_options"] == {"include_usage": True}
    plain = HostProfile.from_entry(
        ProviderEntry(
            name="old", kind="openai", base_url="x", quirks=frozenset({"no_stream_options"})
        )
    )
    payload = to_openai_payload(request, MODEL, plain)
    assert payload["stream"] is True and "stream_options" not in payload
    assert "stream" not in to_openai_payload(request, MODEL, OPENAI, stream=False)


@pytest.mark.parametrize("choice", [True, False])
def test_the_clients_padding_choice_goes_to_hosts_that_pad(choice: bool) -> None:
    """OpenAI pads stream chunks (``obfuscation``) unless told not to; a client that says
    either way is heard there, and other hosts (which never pad) are not sent the field."""
    request = ChatRequest(
        model="m", messages=[user(TextPart("x"))], stream=True, include_obfuscation=choice
    )
    sent = to_openai_payload(request, MODEL, OPENAI)["stream_options"]
    assert sent == {"include_usage": True, "include_obfuscation": choice}
    assert to_openai_payload(request, MODEL, COMPAT)["stream_options"] == {"include_usage": True}
    request.include_obfuscation = None
    assert to_openai_payload(request, MODEL, OPENAI)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("given", "sent"), [(0.0, 0.01), (0.5, 0.5), (1.0, 1.0), (1.7, 1.0), (2.0, 1.0)]
)
def test_temperature_is_clamped_into_zero_one_for_minimax(given: float, sent: float) -> None:
    request = ChatRequest(model="m", messages=[user(TextPart("x"))], temperature=given)
    assert to_openai_payload(request, MODEL, MINIMAX)["temperature"] == sent
    assert to_openai_payload(request, MODEL, OPENAI)["temperature"] == given


def test_untouched_image_reuses_the_clients_base64_and_urls_pass_through() -> None:
    client_b64 = base64.b64encode(PNG).decode()
    inline = ImagePart(
        param="messages[0].content[1]",
        url=f"data:image/png;base64,{client_b64}",
        data=PNG,
        b64=client_b64,
        media_type="image/png",
        width=8,
        height=8,
    )
    remote = ImagePart(
        param="messages[0].content[2]", url="https://img.example/cat.jpg", detail="low"
    )
    request = ChatRequest(model="m", messages=[user(TextPart("Compare"), inline, remote)])
    assert to_openai_payload(request, MODEL, OPENAI)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{client_b64}"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://img.example/cat.jpg", "detail": "low"},
                },
            ],
        }
    ]


def test_fetched_or_converted_image_is_sent_inline_with_its_real_type() -> None:
    fetched = ImagePart(
        param="messages[0].content[0]",
        url="http://127.0.0.1/x.png",
        data=PNG,
        media_type="image/png",
        detail="high",
    )
    message = on_the_wire(to_openai_messages([user(fetched)]))[0]
    image = message["content"][0]["image_url"]
    assert image["detail"] == "high"
    assert image["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_multi_turn_conversation_with_images_in_earlier_turns_and_tools() -> None:
    first = ImagePart(param="messages[1].content[1]", url="https://img.example/1.png")
    second = ImagePart(param="messages[5].content[0]", url="https://img.example/2.png")
    messages = [
        Message("system", [TextPart("You look at pictures.")]),
        user(TextPart("What is this?"), first),
        Message(
            "assistant",
            [],
            tool_calls=[ToolCall(id="call_1", name="lookup", arguments='{"q": "cat"}')],
        ),
        Message("tool", [TextPart('{"answer": "a cat"}')], tool_call_id="call_1"),
        Message("assistant", [TextPart("A cat.")], name="helper"),
        user(second, TextPart("And this one?")),
    ]
    assert to_openai_messages(messages, OPENAI) == [
        {"role": "system", "content": "You look at pictures."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://img.example/1.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "cat"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"answer": "a cat"}', "tool_call_id": "call_1"},
        {"role": "assistant", "content": "A cat.", "name": "helper"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://img.example/2.png"}},
                {"type": "text", "text": "And this one?"},
            ],
        },
    ]


def test_several_text_parts_stay_parts_and_empty_content_stays_a_string() -> None:
    messages = [
        Message("system", [TextPart("a"), TextPart("b")]),
        user(),
        Message("assistant", []),
    ]
    assert to_openai_messages(messages) == [
        {
            "role": "system",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        {"role": "user", "content": ""},
        {"role": "assistant", "content": ""},
    ]


@pytest.mark.parametrize("role", ["system", "developer", "assistant"])
def test_an_image_outside_a_user_message_is_a_400_naming_the_part(role: str) -> None:
    image = ImagePart(param="messages[0].content[1]", url="https://img.example/x.png")
    message = Message(role, [TextPart("x"), image], tool_call_id="call_1")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest) as caught:
        to_openai_messages([message])
    assert caught.value.status == 400
    assert caught.value.param == "messages[0].content[1]"
    assert "user message" in caught.value.message


def test_tool_result_images_follow_the_run_of_tool_messages_in_a_user_message() -> None:
    """Chat Completions tool messages hold text only, and must follow their assistant turn
    directly: the images go in one user message after the last result, by call id."""
    first = ImagePart(param="messages[2].content[1]", url="https://img.example/a.png")
    second = ImagePart(param="messages[3].content[0]", url="https://img.example/b.png")
    calls = [ToolCall("call_1", "look", "{}"), ToolCall("call_2", "look", "{}")]
    messages = [
        user(TextPart("look twice")),
        Message("assistant", [], tool_calls=calls),
        Message("tool", [TextPart("a cat"), first], tool_call_id="call_1"),
        Message("tool", [second], tool_call_id="call_2", is_error=True),
        user(TextPart("and?")),
    ]
    out = to_openai_messages(messages)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "user", "user"]
    assert out[2] == {"role": "tool", "content": "a cat", "tool_call_id": "call_1"}
    assert out[3]["content"].startswith("Error: ")
    assert out[4]["content"] == [
        {"type": "text", "text": "Images returned by tool call call_1:"},
        {"type": "image_url", "image_url": {"url": "https://img.example/a.png"}},
        {"type": "text", "text": "Images returned by tool call call_2:"},
        {"type": "image_url", "image_url": {"url": "https://img.example/b.png"}},
    ]


def test_tool_message_without_call_id_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_openai_messages([user(TextPart("x")), Message("tool", [TextPart("result")])])
    assert caught.value.param == "messages[1].tool_call_id"


def test_an_image_the_pipeline_did_not_finish_is_an_internal_error_not_a_bad_payload() -> None:
    with pytest.raises(GatewayError) as caught:
        to_openai_messages([user(ImagePart(param="messages[0].content[0]", data=PNG))])
    assert caught.value.status == 500
