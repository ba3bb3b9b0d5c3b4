"""OpenAI request JSON → ChatRequest: what is accepted, and what each refusal points at."""

from __future__ import annotations

from typing import Any

import pytest

from visiongate.api.body import parse_body
from visiongate.api.chat.parse import parse_chat_request
from visiongate.core.messages import ImagePart, TextPart
from visiongate.errors import InvalidRequest


def _req(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    body.update(kw)
    return body


def test_full_request_maps_every_field() -> None:
    req = parse_chat_request(
        _req(
            messages=[
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/y.png", "detail": "low"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            max_completion_tokens=50,
            temperature=0.5,
            top_p=0.9,
            stop="END",
            stream=True,
            stream_options={"include_usage": True},
            seed=7,
            response_format={"type": "json_object"},
            tools=[
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            tool_choice={"type": "function", "function": {"name": "f"}},
            user="u1",
            presence_penalty=0.1,
            frequency_penalty=-0.1,
            store=False,
        )
    )
    assert req.max_tokens == 50 and req.temperature == 0.5 and req.top_p == 0.9
    assert req.stop == ["END"] and req.stream and req.include_usage and req.seed == 7
    assert req.tool_choice == "f" and req.tools and req.tools[0].name == "f"
    image = req.messages[1].parts[1]
    assert isinstance(image, ImagePart)
    assert image.detail == "low" and image.url == "https://x/y.png"
    assert image.param == "messages[1].content[1].image_url.url"
    assert req.messages[2].tool_calls and req.messages[2].tool_calls[0].name == "f"
    assert req.messages[3].tool_call_id == "c1"
    assert isinstance(req.messages[0].parts[0], TextPart)


def test_include_usage_only_when_streaming() -> None:
    assert not parse_chat_request(_req(stream_options={"include_usage": True})).include_usage


def test_max_tokens_alias() -> None:
    assert parse_chat_request(_req(max_tokens=9)).max_tokens == 9


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (_req(messages=[]), "messages"),
        (_req(messages=[{"role": "user"}]), "messages[0].content"),
        (_req(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
        (_req(messages=[{"role": "function", "content": "x"}]), "messages[0].role"),
        (_req(top_p=2), "top_p"),
        (_req(n=0), "n"),
        (_req(seed=1.5), "seed"),
        (_req(stop=["a", "b", "c", "d", "e"]), "stop"),
        (_req(tools=[{"type": "retrieval"}]), "tools[0]"),
        (_req(tool_choice="sometimes"), "tool_choice"),
        (_req(response_format={"type": "xml"}), "response_format"),
        (_req(user=5), "user"),
        (_req(frobnicate=True), "frobnicate"),
        (_req(logprobs=True), "logprobs"),
        # Shapes that were a 500 (found by fuzzing): unhashable values where a string goes.
        (_req(messages=[{"role": {}, "content": "x"}]), "messages[0].role"),
        (_req(messages=[{"role": ["user"], "content": "x"}]), "messages[0].role"),
        (
            _req(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "http://x/", "detail": {"a": 1}},
                            }
                        ],
                    }
                ]
            ),
            "messages[0].content[0].image_url.detail",
        ),
        (_req(response_format={"type": {"a": 1}}), "response_format"),
        (
            _req(response_format={"type": "json_schema", "json_schema": 3}),
            "response_format.json_schema",
        ),
        (
            _req(
                response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": 1}}
            ),
            "response_format.json_schema.schema",
        ),
        (
            _req(messages=[{"role": "user", "content": "x", "tool_call_id": {}}]),
            "messages[0].tool_call_id",
        ),
        (
            _req(tools=[{"type": "function", "function": {"name": "f", "parameters": 1}}]),
            "tools[0].function.parameters",
        ),
        (
            _req(tools=[{"type": "function", "function": {"name": "f", "description": []}}]),
            "tools[0].function.description",
        ),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body)
    assert info.value.param == param
    assert info.value.status == 400


def test_image_in_assistant_message_is_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(
            _req(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "image_url", "image_url": {"url": "x"}}],
                    }
                ]
            )
        )
    assert info.value.param == "messages[0].content[0]"


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"s"', b"\xff"])
def test_parse_body_refuses_non_objects(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_body(raw)


def _file(**spec: Any) -> dict[str, Any]:
    return _req(messages=[{"role": "user", "content": [{"type": "file", "file": spec}]}])


def test_file_parts_become_documents() -> None:
    req = parse_chat_request(
        _file(file_data="data:application/pdf;base64,JVBERi0=", filename="a.pdf", pages="1-2")
    )
    (part,) = req.documents
    assert part.url == "data:application/pdf;base64,JVBERi0="
    assert (part.filename, part.pages) == ("a.pdf", "1-2")
    assert part.param == "messages[0].content[0].file.file_data"
    url = parse_chat_request(_file(file_url="https://x/a.pdf")).documents[0]
    assert url.url == "https://x/a.pdf" and url.param == "messages[0].content[0].file.file_url"


@pytest.mark.parametrize(
    ("spec", "param", "code"),
    [
        ({"file_id": "file-1"}, "messages[0].content[0].file.file_id", "unsupported_parameter"),
        ({}, "messages[0].content[0].file.file_data", "invalid_request_error"),
        (
            {"file_data": "x", "file_url": "y"},
            "messages[0].content[0].file",
            "invalid_request_error",
        ),
        (
            {"file_data": "x", "pages": "9-1"},
            "messages[0].content[0].file.pages",
            "invalid_request_error",
        ),
        (
            {"file_data": "x", "filename": 3},
            "messages[0].content[0].file.filename",
            "invalid_request_error",
        ),
    ],
)
def test_bad_file_parts_name_the_field(spec: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(_file(**spec))
    assert (info.value.param, info.value.code) == (param, code)


def test_file_parts_only_in_user_messages() -> None:
    body = _req(
        messages=[
            {"role": "system", "content": [{"type": "file", "file": {"file_data": "x"}}]},
        ]
    )
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body)
    assert info.value.param == "messages[0].content[0]"
