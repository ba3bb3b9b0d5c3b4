"""Reading the request body: one piece or many, with or without Content-Length, capped."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from visiongate.api import endpoint
from visiongate.api.chat import ChatSurface
from visiongate.api.endpoint import Endpoint
from visiongate.errors import GatewayError, RequestTooLarge
from visiongate.observability.metrics import Metrics


def _endpoint(max_body: int = 1000) -> Endpoint:
    return Endpoint(ChatSurface(), None, None, Metrics(), max_body)  # type: ignore[arg-type]


def _receive(pieces: Iterable[bytes], disconnect: bool = False) -> Any:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": piece, "more_body": True} for piece in pieces
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    else:
        messages[-1]["more_body"] = False
    queue = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(queue)

    return receive


@pytest.mark.timeout(5)
async def test_one_piece_is_returned_as_it_is() -> None:
    piece = b'{"model": "m"}'
    body = await _endpoint()._read_body(str(len(piece)), _receive([piece]))
    assert body is piece


@pytest.mark.timeout(5)
@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("joined_up_to", [endpoint._JOINED_UP_TO, 100])  # joined, or buffered
async def test_many_pieces_make_the_whole_body(
    declared: bool, joined_up_to: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(endpoint, "_JOINED_UP_TO", joined_up_to)
    pieces = [bytes([65 + i]) * 37 for i in range(20)]
    whole = b"".join(pieces)
    length = str(len(whole)) if declared else None
    assert await _endpoint()._read_body(length, _receive(pieces)) == whole


@pytest.mark.timeout(5)
async def test_a_short_body_is_not_padded_to_its_content_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(endpoint, "_JOINED_UP_TO", 100)  # the buffer sized from the header
    body = await _endpoint()._read_body("500", _receive([b"abc", b"def"]))
    assert body == b"abcdef"


@pytest.mark.timeout(5)
async def test_a_declared_size_over_the_cap_is_refused_before_reading() -> None:
    with pytest.raises(RequestTooLarge):
        await _endpoint(100)._read_body("101", _receive([b"x"]))


@pytest.mark.timeout(5)
@pytest.mark.parametrize("declared", ["150", None])
async def test_pieces_over_the_cap_are_refused(declared: str | None) -> None:
    # A lying (or missing) Content-Length does not get past the cap either.
    with pytest.raises(RequestTooLarge):
        await _endpoint(100)._read_body(declared, _receive([b"x" * 60, b"y" * 60]))


@pytest.mark.timeout(5)
async def test_a_client_that_leaves_mid_body_is_a_499() -> None:
    with pytest.raises(GatewayError) as caught:
        await _endpoint()._read_body("100", _receive([b"x" * 10], disconnect=True))
    assert caught.value.status == 499 and caught.value.code == "client_closed"
