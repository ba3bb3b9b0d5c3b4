"""to_gemini_payload: the internal request → generateContent body, checked as golden shapes
and by the fake upstream's rule checker (what the real API would refuse)."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.gemini_upstream import check_generate_request
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
from visiongate.providers.gemini import GeminiProvider, to_gemini_payload
from visiongate.providers.gemini_schema import gemini_schema
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def flash() -> ModelEntry:
    return load_catalog(environ={}).models["gemini-1.5-flash"]


def image(param: str, fmt: str = "PNG") -> ImagePart:
    data = make_image(fmt, (64, 48))
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
    return ImagePart(param=param, data=data, media_type=mime[fmt], width=64, height=48)


def user(*parts: str | ImagePart) -> Message:
    return Message("user", [TextPart(p) if isinstance(p, str) else p for p in parts])


def valid(payload: dict) -> dict:
    payload = on_the_wire(payload)
    assert check_generate_request(payload) == []
    return payload


def test_minimal_request(flash: ModelEntry) -> None:
    payload = valid(to_gemini_payload(ChatRequest("gemini-1.5-flash", [user("hi")]), flash))
    assert payload == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_images_are_inline_data_in_camel_case_in_every_turn(flash: ModelEntry) -> None:
    first, second = image("messages[0].content[1]"), image("messages[2].content[0]", "WEBP")
    request = ChatRequest(
        "m",
        [
            user("what is this?", first),
            Message("assistant", [TextPart("A square.")]),
            user(second, "and this?"),
        ],
    )
    payload = valid(to_gemini_payload(request, flash))
    assert [c["role"] for c in payload["contents"]] == ["user", "model", "user"]
    inline = payload["contents"][0]["parts"][1]
    assert inline == {"inlineData": {"mimeType": "image/png", "data": ascii_text(first.base64())}}
    assert base64.b64decode(inline["inlineData"]["data"]) == first.data
    assert payload["contents"][2]["parts"][0]["inlineData"]["mimeType"] == "image/webp"


def test_gif_reaching_the_adapter_is_refused_not_sent(flash: ModelEntry) -> None:
    """The pipeline converts GIF for Gemini; if one slipped through, fail loudly."""
    with pytest.raises(InvalidRequest) as info:
        to_gemini_payload(ChatRequest("m", [user(image("messages[0].content[0]", "GIF"))]), flash)
    assert info.value.param == "messages[0].content[0]"


def test_image_without_bytes_is_a_server_bug(flash: ModelEntry) -> None:
    part = ImagePart(param="p", url="https://example.com/x.png")
    with pytest.raises(GatewayError) as info:
        to_gemini_payload(ChatRequest("m", [user(part)]), flash)
    assert info.value.status == 500


def test_system_developer_and_same_role_merging(flash: ModelEntry) -> None:
    request = ChatRequest(
        "m",
        [
            Message("system", [TextPart("Be brief.")]),
            user("one"),
            Message("developer", [TextPart("French.")]),
            user("two"),
            Message("assistant", [TextPart("a")]),
            Message("assistant", [TextPart("b")]),
            user("three"),
        ],
    )
    payload = valid(to_gemini_payload(request, flash))
    assert payload["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "French."}]}
    assert payload["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "user", "parts": [{"text": "three"}]},
    ]


def test_generation_config(flash: ModelEntry) -> None:
    request = ChatRequest(
        "m",
        [user("hi")],
        max_tokens=100_000,
        temperature=1.5,
        top_p=0.5,
        stop=["a", "b", "c", "d", "e"],
        seed=3,
        user="ignored",
    )
    payload = valid(to_gemini_payload(request, flash))
    assert payload["generationConfig"] == {
        "maxOutputTokens": 8192,
        "temperature": 1.5,
        "topP": 0.5,
        "seed": 3,
        "stopSequences": ["a", "b", "c", "d", "e"],
    }


def test_json_object_mode(flash: ModelEntry) -> None:
    request = ChatRequest("m", [user("json please")], response_format={"type": "json_object"})
    payload = valid(to_gemini_payload(request, flash))
    assert payload["generationConfig"] == {"responseMimeType": "application/json"}


def test_json_schema_mode_converts_the_schema(flash: ModelEntry) -> None:
    schema = {
        "type": "object",
        "title": "Answer",
        "additionalProperties": False,
        "properties": {
            "colour": {"type": "string", "enum": ["red", "blue"]},
            "count": {"type": ["integer", "null"], "minimum": 0},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
            "box": {"anyOf": [{"$ref": "#/$defs/box"}, {"type": "null"}]},
        },
        "required": ["colour", "count"],
        "$defs": {
            "tag": {"type": "string", "description": "a label"},
            "box": {"type": "object", "properties": {"w": {"type": "number"}}},
        },
    }
    request = ChatRequest(
        "m",
        [user("describe")],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    payload = valid(to_gemini_payload(request, flash))
    assert payload["generationConfig"]["responseMimeType"] == "application/json"
    assert payload["generationConfig"]["responseSchema"] == {
        "type": "OBJECT",
        "properties": {
            "colour": {"type": "STRING", "enum": ["red", "blue"]},
            "count": {"type": "INTEGER", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "description": "a label"}},
            "box": {"type": "OBJECT", "properties": {"w": {"type": "NUMBER"}}, "nullable": True},
        },
        "required": ["colour", "count"],
    }


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": ["string", "integer"]},
        {"$ref": "#/$defs/missing"},
        {
            "$ref": "#/$defs/node",
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        },
    ],
)
def test_schemas_gemini_cannot_express_are_a_400(schema: dict) -> None:
    with pytest.raises(InvalidRequest) as info:
        gemini_schema(schema, "response_format.json_schema.schema")
    assert info.value.param is not None
    assert info.value.param.startswith("response_format.json_schema.schema")


WEATHER = ToolSpec(
    "get_weather",
    "Current weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        ("auto", {"functionCallingConfig": {"mode": "AUTO"}}),
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            "get_weather",
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        ),
    ],
)
def test_tools_become_function_declarations(
    flash: ModelEntry, choice: str | None, config: dict | None
) -> None:
    request = ChatRequest(
        "m", [user("weather?")], tools=[WEATHER, ToolSpec("clock")], tool_choice=choice
    )
    payload = valid(to_gemini_payload(request, flash))
    assert payload["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                },
                {"name": "clock"},
            ]
        }
    ]
    assert payload.get("toolConfig") == config


def test_tool_round_trip_becomes_function_call_and_response(flash: ModelEntry) -> None:
    shot = image("messages[2].content[1]")
    request = ChatRequest(
        "m",
        [
            user("weather in Paris and Rome?"),
            Message(
                "assistant",
                [],
                tool_calls=[
                    ToolCall("call_a", "get_weather", '{"city": "Paris"}'),
                    ToolCall("call_b", "get_weather", '{"city": "Rome"}'),
                ],
            ),
            Message("tool", [TextPart('{"temp": 18}'), shot], tool_call_id="call_a"),
            Message("tool", [TextPart("24C")], tool_call_id="call_b"),
        ],
        tools=[WEATHER],
    )
    payload = valid(to_gemini_payload(request, flash))
    model_turn, results = payload["contents"][1], payload["contents"][2]
    assert model_turn == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        ],
    }
    assert results["role"] == "user"
    assert results["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"temp": 18}}
    }
    assert "inlineData" in results["parts"][1]
    assert results["parts"][2] == {
        "functionResponse": {"name": "get_weather", "response": {"output": "24C"}}
    }


def test_tool_result_for_an_unknown_call_names_the_field(flash: ModelEntry) -> None:
    request = ChatRequest("m", [user("x"), Message("tool", [TextPart("r")], tool_call_id="nope")])
    with pytest.raises(InvalidRequest) as info:
        to_gemini_payload(request, flash)
    assert info.value.param == "messages[1].tool_call_id"


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        (ChatRequest("m", [user("x")], stop=["1", "2", "3", "4", "5", "6"]), "stop"),
        (ChatRequest("m", [Message("assistant", [TextPart("hi")]), user("x")]), "messages[0].role"),
        (
            ChatRequest("m", [user("x"), Message("assistant", [TextPart("pre")])]),
            "messages[1].role",
        ),
        (
            ChatRequest(
                "m",
                [Message("system", [TextPart("s"), image("messages[0].content[1]")]), user("x")],
            ),
            "messages[0].content[1]",
        ),
        (ChatRequest("m", [Message("system", [TextPart("s")])]), "messages"),
        (ChatRequest("m", [user("x")], n=2), "n"),
    ],
)
def test_what_gemini_cannot_express_is_a_400_before_image_work(
    flash: ModelEntry, request_: ChatRequest, param: str
) -> None:
    provider = GeminiProvider(load_catalog(environ={}).providers["google"], Settings())
    with pytest.raises(InvalidRequest) as info:
        provider.check(request_, flash)
    assert info.value.status == 400
    assert info.value.param == param


def test_json_mode_passes_the_check(flash: ModelEntry) -> None:
    provider = GeminiProvider(load_catalog(environ={}).providers["google"], Settings())
    provider.check(ChatRequest("m", [user("x")], response_format={"type": "json_object"}), flash)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": 1},
        {"type": "object", "properties": 5},
        {"type": "object", "properties": {"a": "string"}},
        {"anyOf": [1, 2]},
        {"anyOf": "x"},
        {"type": [1, "null"]},
        {"enum": "abc"},
        {"$defs": [], "type": "object"},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": "a"},
    ],
)
def test_malformed_json_schemas_are_a_400_not_a_crash(schema: dict) -> None:
    """Fuzzing found each of these raising TypeError/AttributeError (a 500)."""
    with pytest.raises(InvalidRequest):
        gemini_schema(schema, "tools[0].function.parameters")
