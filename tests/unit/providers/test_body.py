"""Upstream bodies: the payload as JSON, with verbatim image bytes spliced in uncopied."""

from __future__ import annotations

import orjson
import pytest

from visiongate.providers import body
from visiongate.providers.body import Verbatim, payload_text, serialise
from visiongate.transport import body_length


def test_a_payload_without_verbatim_values_is_one_piece() -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert serialise(payload) == orjson.dumps(payload)


def test_verbatim_bytes_are_spliced_in_order_and_not_copied() -> None:
    first, second = b"data:image/png;base64,iVBORw0=", b"/9j/4AAQSkZJRg=="
    payload = {
        "messages": [
            {"content": [{"type": "text", "text": 'two " quoted'}]},
            {"content": [{"url": payload_text(first)}, {"data": payload_text(second)}]},
        ],
        "after": payload_text("a plain string stays a string"),
    }
    segments = serialise(payload)
    assert isinstance(segments, list)
    assert any(s is first for s in segments) and any(s is second for s in segments)
    assert body_length(segments) == len(b"".join(segments))
    expected = {
        "messages": [
            {"content": [{"type": "text", "text": 'two " quoted'}]},
            {"content": [{"url": first.decode()}, {"data": second.decode()}]},
        ],
        "after": "a plain string stays a string",
    }
    assert orjson.loads(b"".join(segments)) == expected


def test_text_that_looks_like_a_placeholder_is_left_alone() -> None:
    lookalike = f"{body._MARK}0"  # the real mark: only code in this process could know it
    out = serialise({"text": lookalike, "image": Verbatim(b"QUJD")})
    assert isinstance(out, bytes)  # not spliced: serialised whole, the exact way
    assert orjson.loads(out) == {"text": lookalike, "image": "QUJD"}


def test_other_unknown_types_are_still_refused() -> None:
    with pytest.raises(TypeError):
        serialise({"x": object()})
