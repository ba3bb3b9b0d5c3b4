"""The chat route's OpenAPI schema says what the parser accepts: a body the schema allows
parses, and the refusals it can express are refusals of the schema too. The schema
fuzzer (tests/e2e/test_schema_fuzz_e2e.py) generates from it, so a schema looser than
the parser only ever fuzzes the 400 path."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from visiongate.api.chat.parse import parse_chat_request
from visiongate.api.chat_schema import ChatCompletionRequest
from visiongate.documents.pages import parse_pages
from visiongate.errors import InvalidRequest

PDF = "data:application/pdf;base64,JVBERi0xLjQK"
PNG = "data:image/png;base64,iVBORw0KGgo="
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _body(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages)}


ACCEPTED = [
    {"role": "system", "content": "be brief"},
    {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
    {"role": "user", "content": "hi", "name": "ann"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what are these?"},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
            {"type": "file", "file": {"file_data": PDF, "filename": "a.pdf", "pages": "1-3,7"}},
            {"type": "file", "file": {"file_url": "https://example.com/a.pdf", "pages": 2}},
        ],
    },
    {"role": "assistant", "content": "sure", "tool_calls": [CALL]},
    {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "assistant", "tool_calls": [CALL]},
    {"role": "tool", "content": "42", "tool_call_id": "call_1"},
]


@pytest.mark.parametrize("message", ACCEPTED)
def test_what_the_schema_allows_parses(message: dict[str, Any]) -> None:
    body = _body(message)
    ChatCompletionRequest.model_validate(body)
    parse_chat_request(body)


REFUSED = [
    {"role": "user", "content": None},
    {"role": "system"},
    {"role": "assistant", "content": None},
    {"role": "assistant", "content": None, "tool_calls": []},
    {"role": "tool", "content": "42"},
    {"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
    {"role": "assistant", "content": [{"type": "file", "file": {"file_data": PDF}}]},
    {"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]},
    {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]},
    {"role": "user", "content": [{"type": "refusal", "refusal": "no"}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": ""}}]},
    {"role": "function", "content": "x", "name": "f"},
]


@pytest.mark.parametrize("message", REFUSED)
def test_what_the_parser_refuses_the_schema_refuses(message: dict[str, Any]) -> None:
    body = _body(message)
    with pytest.raises(InvalidRequest):
        parse_chat_request(body)
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(body)


FIELDS_ACCEPTED = [
    {"stop": ["a", "b", "c", "d"]},
    {"stop": "END"},
    {"tool_choice": {"type": "function", "function": {"name": "f"}}},
    {"tool_choice": "required"},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
    {"response_format": {"type": "json_object"}},
    {"max_tokens": 1, "n": 1, "seed": 7, "temperature": 0, "top_p": 1},
]


@pytest.mark.parametrize("fields", FIELDS_ACCEPTED)
def test_fields_the_schema_allows_parse(fields: dict[str, Any]) -> None:
    body = {**_body({"role": "user", "content": "hi"}), **fields}
    ChatCompletionRequest.model_validate(body)
    parse_chat_request(body)


FIELDS_REFUSED = [
    {"stop": ["a", "b", "c", "d", "e"]},
    {"tool_choice": {"anything": 1}},
    {"tool_choice": "sometimes"},
    {"response_format": {"type": "json_schema", "json_schema": []}},
    {"response_format": {"type": "yaml"}},
    {"max_tokens": 0},
    {"temperature": 3},
]


@pytest.mark.parametrize("fields", FIELDS_REFUSED)
def test_fields_the_parser_refuses_the_schema_refuses(fields: dict[str, Any]) -> None:
    body = {**_body({"role": "user", "content": "hi"}), **fields}
    with pytest.raises(InvalidRequest):
        parse_chat_request(body)
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(body)


def _pdf_part(**file: Any) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "file", "file": {"file_data": PDF, **file}}]}


@pytest.mark.parametrize("pages", ["1", "1-3,7", " 2 - 4 , 9-", 3])
def test_page_selections_the_schema_allows_parse(pages: object) -> None:
    ChatCompletionRequest.model_validate(_body(_pdf_part(pages=pages)))
    parse_pages(pages, "pages")


@pytest.mark.parametrize("pages", ["0", "a", "1,,2", "-3", "", 0, -1])
def test_page_selections_pages_py_refuses_the_schema_refuses(pages: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_pages(pages, "pages")
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(_body(_pdf_part(pages=pages)))
