"""Large data URLs cut out of the body before parsing: the result must be exactly what
parsing the whole body gives, with those URLs as bytes, or the whole body is parsed."""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
import pytest

from tests.support.wire import as_parsed
from visiongate.api import cut
from visiongate.api.body import parse_body
from visiongate.api.chat.parse import parse_chat_request
from visiongate.errors import InvalidRequest


def _url(size: int = 60_000, seed: int = 1) -> str:
    data = seed.to_bytes(4, "big") + os.urandom(size)
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def _body(*content: Any, **extra: Any) -> bytes:
    return orjson.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": list(content)}], **extra}
    )


def _image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": "high"}}


def test_large_data_urls_come_back_as_bytes_and_the_rest_as_parsed() -> None:
    first, second = _url(seed=1), _url(seed=2)
    body = _body({"type": "text", "text": "two"}, _image(first), _image(second), max_tokens=9)
    data = parse_body(body)
    urls = [p["image_url"]["url"] for p in data["messages"][0]["content"][1:]]
    assert urls == [first.encode(), second.encode()]
    assert as_parsed(data) == orjson.loads(body)
    request = parse_chat_request(data)
    assert [p.url for p in request.images] == urls


@pytest.mark.parametrize(
    "content",
    [
        # the whole text is a data URL: cut, then not found as an image, so parsed again
        [{"type": "text", "text": _url()}, _image(_url(seed=3))],
        # a data URL as an object key
        [{"type": "text", "text": "x", "meta": {_url(): 1}}, _image(_url(seed=4))],
        # a quoted data URL inside a text: its quote is escaped, the span holds no backslash
        [{"type": "text", "text": 'he said "' + _url() + '" twice'}, _image(_url(seed=5))],
        # the same image twice, and the legacy string form of image_url
        [_image(_url(seed=6)), {"type": "image_url", "image_url": _url(seed=6)}],
        # short data URLs stay in the body
        [_image("data:image/png;base64,iVBORw0KGgo="), {"type": "text", "text": "y" * 70_000}],
    ],
)
def test_every_body_parses_to_what_orjson_makes_of_it(content: list[Any]) -> None:
    body = _body(*content)
    assert as_parsed(parse_body(body)) == orjson.loads(body)


def test_a_data_url_in_a_text_is_never_replaced_by_a_token() -> None:
    text = _url(seed=7)
    data = parse_body(_body({"type": "text", "text": text}, _image(_url(seed=8))))
    assert data["messages"][0]["content"][0]["text"] == text


def test_json_escapes_in_a_data_url_leave_it_to_the_parser() -> None:
    url = _url(seed=9)
    body = _body(_image(url)).replace(b"/", b"\\/")  # as PHP's json_encode writes it
    skeleton, urls = cut.cut_data_urls(body)
    assert urls == [] and skeleton is body
    assert parse_body(body)["messages"][0]["content"][0]["image_url"]["url"] == url


def test_a_forged_token_is_only_text() -> None:
    forged = f"{cut._TOKEN}0"
    body = _body({"type": "text", "text": forged}, _image(_url(seed=10)))
    data = parse_body(body)
    assert data["messages"][0]["content"][0]["text"] == forged
    assert isinstance(data["messages"][0]["content"][1]["image_url"]["url"], bytes)


def test_a_token_placed_twice_makes_the_body_parse_whole() -> None:
    skeleton, urls = cut.cut_data_urls(_body(_image(_url(seed=11))))
    data = orjson.loads(skeleton)
    content = data["messages"][0]["content"]
    content.append(orjson.loads(orjson.dumps(content[0])))
    assert not cut.put_back(data, urls)


def test_invalid_json_is_reported_at_its_place_in_the_body_as_sent() -> None:
    body = _body(_image(_url(seed=12)))[:-1]  # the closing brace missing
    with pytest.raises(InvalidRequest) as caught:
        parse_body(body)
    with pytest.raises(orjson.JSONDecodeError) as direct:
        orjson.loads(body)
    assert str(direct.value) in caught.value.message


def test_small_bodies_and_bodies_without_data_urls_are_not_touched() -> None:
    small = _body(_image(_url(size=20_000)))
    assert cut.cut_data_urls(small) == (small, [])
    plain = _body({"type": "text", "text": "z" * 100_000})
    assert cut.cut_data_urls(plain) == (plain, [])


def test_a_bytearray_body_is_cut_the_same_way() -> None:
    body = _body(_image(_url(seed=13)))
    skeleton, urls = cut.cut_data_urls(bytearray(body))
    assert (skeleton, urls) == cut.cut_data_urls(body)


def _b64(size: int = 60_000, seed: int = 1) -> str:
    return base64.b64encode(seed.to_bytes(4, "big") + os.urandom(size)).decode()


def test_responses_data_urls_in_messages_and_tool_outputs_come_back_as_bytes() -> None:
    from visiongate.api.responses.surface import ResponsesSurface

    first, second = _url(seed=21), _url(seed=22)
    body = orjson.dumps(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": [{"type": "input_image", "image_url": first}]},
                {
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": [{"type": "input_image", "image_url": {"url": second}}],
                },
            ],
        }
    )
    data = parse_body(body, ResponsesSurface.cut)
    assert data["input"][0]["content"][0]["image_url"] == first.encode()
    assert data["input"][1]["output"][0]["image_url"]["url"] == second.encode()
    assert as_parsed(data) == orjson.loads(body)


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])  # orjson's, and json's
def test_messages_base64_fields_come_back_as_bytes(separators: tuple[str, str]) -> None:
    import json

    from visiongate.api.messages.surface import MessagesSurface

    first, second = _b64(seed=31), _b64(seed=32)

    def image(data: str) -> dict[str, Any]:
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": data},
        }

    content = [
        image(first),
        {"type": "tool_result", "tool_use_id": "t", "content": [image(second)]},
        {"type": "text", "text": 'the key "data": is text here, ' + "z" * 20_000},
    ]
    raw = json.dumps(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]},
        separators=separators,
    ).encode()
    data = parse_body(raw, MessagesSurface.cut)
    blocks = data["messages"][0]["content"]
    assert blocks[0]["source"]["data"] == first.encode()
    assert blocks[1]["content"][0]["source"]["data"] == second.encode()
    assert as_parsed(data) == orjson.loads(raw)


def test_a_long_data_field_that_is_not_an_image_is_parsed_as_it_is() -> None:
    from visiongate.api.messages.surface import MessagesSurface

    body = orjson.dumps({"model": "m", "metadata": {"data": _b64(seed=41)}, "messages": []})
    data = parse_body(body, MessagesSurface.cut)
    assert data == orjson.loads(body)


def test_large_file_data_comes_back_as_bytes() -> None:
    pdf = "data:application/pdf;base64," + base64.b64encode(b"%PDF-" + os.urandom(70_000)).decode()
    part = {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}}
    body = _body({"type": "text", "text": "read"}, part, _image(_url()))
    data = parse_body(body)
    assert data["messages"][0]["content"][1]["file"]["file_data"] == pdf.encode()
    assert as_parsed(data) == orjson.loads(body)
    request = parse_chat_request(data)
    assert request.documents[0].url == pdf.encode()


def test_large_pdfs_in_responses_and_messages_bodies_come_back_as_bytes() -> None:
    from visiongate.api.messages.surface import MessagesSurface
    from visiongate.api.responses.surface import ResponsesSurface

    pdf = base64.b64encode(b"%PDF-" + os.urandom(70_000)).decode()
    url = "data:application/pdf;base64," + pdf
    file_part = {"type": "input_file", "file_data": url, "filename": "a.pdf"}
    body = orjson.dumps({"model": "m", "input": [{"role": "user", "content": [file_part]}]})
    data = parse_body(body, ResponsesSurface.cut)
    assert data["input"][0]["content"][0]["file_data"] == url.encode()
    assert as_parsed(data) == orjson.loads(body)
    source = {"type": "base64", "media_type": "application/pdf", "data": pdf}
    block = {"type": "document", "source": source}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [dict(block)]}
    body = orjson.dumps(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [block, result]}]}
    )
    data = parse_body(body, MessagesSurface.cut)
    content = data["messages"][0]["content"]
    assert content[0]["source"]["data"] == pdf.encode()
    assert content[1]["content"][0]["source"]["data"] == pdf.encode()
    assert as_parsed(data) == orjson.loads(body)
