"""The answer cache's key: the same content in any spelling is one key; any change that
can change the answer is another."""

from __future__ import annotations

import base64

import pytest

from tests.support.images import make_image
from visiongate.core.messages import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolSpec,
)
from visiongate.service.cache_key import answer_key

PNG = make_image("PNG", (40, 30))
B64 = base64.b64encode(PNG).decode()


def image_from_data_url(as_bytes: bool = False) -> ImagePart:
    url = f"data:image/png;base64,{B64}"
    part = ImagePart(param="messages[0].content[1]", url=url.encode() if as_bytes else url)
    part.use_base64(len(PNG), at=len("data:image/png;base64,"))
    part.media_type = "image/png"
    return part


def image_from_fetch() -> ImagePart:
    part = ImagePart(param="messages[0].content[1]", url="https://example.com/a.png")
    part.data = PNG
    part.media_type = "image/png"
    return part


def request(*parts: object, **fields: object) -> ChatRequest:
    content = [TextPart("What is this?"), *parts]
    return ChatRequest(model="gpt-4o", messages=[Message("user", content)], **fields)  # type: ignore[arg-type]


def key(req: ChatRequest, scope: str = "k1", **kw: object) -> str:
    return answer_key(req, "gpt-4o", scope, **kw)  # type: ignore[arg-type]


def test_an_image_is_keyed_by_its_bytes_however_it_came() -> None:
    keys = {
        key(request(image_from_data_url())),
        key(request(image_from_data_url(as_bytes=True))),
        key(request(image_from_fetch())),
    }
    assert len(keys) == 1


def test_an_image_the_provider_fetches_is_keyed_by_its_fetched_bytes_or_its_url() -> None:
    url = "https://example.com/photo.png"
    passthrough = ImagePart(param="p", url=url, media_type="image/png")
    digest = image_from_fetch().digest()
    assert key(request(passthrough), url_digests={url: digest}) == key(
        request(image_from_data_url())
    )
    by_url = key(request(passthrough))
    assert by_url != key(request(image_from_data_url()))
    other = ImagePart(param="p", url="https://example.com/other.png", media_type="image/png")
    assert key(request(other)) != by_url


def test_one_changed_byte_is_another_key() -> None:
    changed = ImagePart(param="p")
    changed.data = PNG[:-1] + bytes([PNG[-1] ^ 1])
    changed.media_type = "image/png"
    assert key(request(changed)) != key(request(image_from_fetch()))


def test_detail_changes_the_key() -> None:
    low = image_from_fetch()
    low.detail = "low"
    assert key(request(low)) != key(request(image_from_fetch()))


@pytest.mark.parametrize(
    ("fields", "same"),
    [
        ({"temperature": 1}, True),
        ({"temperature": 1.0, "top_p": 1, "n": 1}, True),
        ({"stream": True, "include_usage": True, "user": "u1"}, True),
        ({"echo": {"instructions": None}}, True),
        ({"stop": []}, True),
        ({"response_format": {"type": "text"}}, True),
        ({"tool_choice": "auto", "parallel_tool_calls": True}, True),
        ({"temperature": 0.2}, False),
        ({"top_p": 0.5}, False),
        ({"max_tokens": 10}, False),
        ({"seed": 7}, False),
        ({"stop": ["END"]}, False),
        ({"response_format": {"type": "json_object"}}, False),
        ({"tool_choice": "required"}, False),
        ({"presence_penalty": 0.5}, False),
        ({"top_k": 5}, False),
    ],
)
def test_fields_at_their_defaults_do_not_count_and_others_do(
    fields: dict[str, object], same: bool
) -> None:
    assert (key(request(**fields)) == key(request())) is same


def test_the_order_of_keys_inside_tool_schemas_does_not_count() -> None:
    one = ToolSpec("lookup", "Look up", {"type": "object", "properties": {"a": {}, "b": {}}})
    two = ToolSpec("lookup", "Look up", {"properties": {"b": {}, "a": {}}, "type": "object"})
    assert key(request(tools=[one])) == key(request(tools=[two]))
    assert key(request(tools=[one])) != key(request())
    assert key(request(tools=[one])) != key(request(tools=[ToolSpec("lookup", "Other", None)]))


def test_messages_roles_tool_calls_and_thinking_count() -> None:
    base = request()
    system = ChatRequest(
        model="gpt-4o", messages=[Message("system", [TextPart("Be brief")]), *base.messages]
    )
    assert key(system) != key(base)
    call = Message("assistant", [], tool_calls=[ToolCall("c1", "lookup", '{"a": 1}')])
    other_call = Message("assistant", [], tool_calls=[ToolCall("c1", "lookup", '{"a": 2}')])
    assert key(ChatRequest("m", [*base.messages, call])) != key(
        ChatRequest("m", [*base.messages, other_call])
    )
    thought = Message("assistant", [ThinkingPart("hmm", signature="s1")])
    assert key(ChatRequest("m", [thought])) != key(ChatRequest("m", [Message("assistant", [])]))


def test_prompt_cache_hints_do_not_count() -> None:
    hinted = request()
    hinted.messages[0].parts[0].cache_control = {"type": "ephemeral"}  # type: ignore[union-attr]
    assert key(hinted) == key(request())


def test_scope_and_model_are_part_of_the_key() -> None:
    assert key(request(), "k1") != key(request(), "k2")
    assert answer_key(request(), "gpt-4o", "*") != answer_key(request(), "gpt-4o-mini", "*")


def test_a_part_kind_the_key_does_not_know_is_refused() -> None:
    class Unknown:
        kind = "audio"

    with pytest.raises(TypeError, match="cannot key"):
        key(request(Unknown()))


def test_the_upstream_model_is_part_of_the_key() -> None:
    followed = answer_key(request(), "gpt-4o", "k1", upstream="gpt-4o-2024-11-20")
    assert followed != answer_key(request(), "gpt-4o", "k1", upstream="gpt-4o")
    assert answer_key(request(), "gpt-4o", "k1") == answer_key(
        request(), "gpt-4o", "k1", upstream="gpt-4o"
    )


def pdf(data: bytes, b64: str | bytes | None = None, pages: int = 2) -> DocumentPart:
    """A document as the pipeline leaves it for a provider that reads PDFs."""
    part = DocumentPart(param="messages[0].content[1]", url="data:application/pdf;base64,...")
    part.data = data
    part.b64 = b64
    part.page_count = pages
    part.native = True
    return part


def test_a_pdf_is_keyed_by_the_bytes_the_provider_receives() -> None:
    body = b"%PDF-1.7 two pages %%EOF"
    from_client = pdf(body, base64.b64encode(body).decode())
    computed = pdf(body)  # its base64 is computed from the bytes
    assert key(request(from_client)) == key(request(computed))
    assert key(request(pdf(b"%PDF-1.7 one page %%EOF", pages=1))) != key(request(computed))
    assert key(request(computed)) != key(request())


def test_a_pdf_read_page_by_page_is_keyed_by_its_pages() -> None:
    one, two = DocumentPart(param="d"), DocumentPart(param="d")
    one.text_pages = [(1, "Invoice 42")]
    two.text_pages = [(1, "Invoice 43")]
    assert key(request(one)) != key(request(two))
    two.text_pages = [(1, "Invoice 42")]
    assert key(request(one)) == key(request(two))
