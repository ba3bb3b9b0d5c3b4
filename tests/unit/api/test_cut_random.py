"""Random bodies through the cut: each parses to exactly what orjson makes of it, or is
refused, by the parser or, for bytes JSON would not have taken, by the image pipeline."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.support.wire import as_parsed
from visiongate.api.body import parse_body
from visiongate.errors import ImageError, InvalidRequest
from visiongate.images.data_url import parse_data_url


class _Bodies:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def data_url(self, size: int) -> str:
        kind = self.rnd.choice(["png", "jpeg"])
        return f"data:image/{kind};base64," + base64.b64encode(self.rnd.randbytes(size)).decode()

    def text(self) -> str:
        pool = ['"', "\\", "data:", '"data:', "x", "\n", "é", " ", "/", "{", self.data_url(20_000)]
        return "".join(self.rnd.choice(pool) for _ in range(self.rnd.randint(0, 6)))

    def part(self) -> dict[str, Any]:
        r = self.rnd.random()
        if r < 0.5:
            size = self.rnd.choice([100, 20_000, 60_000])
            return {"type": "image_url", "image_url": {"url": self.data_url(size)}}
        if r < 0.6:
            return {"type": "image_url", "image_url": self.data_url(30_000)}
        if r < 0.7:
            url = self.data_url(30_000)
            return {"type": "image_url", "image_url": {"url": url, "detail": self.text()}}
        if r < 0.8:
            return {"type": "text", "text": self.data_url(30_000)}
        return {"type": "text", "text": self.text(), self.text(): self.text()}

    def body(self) -> bytes:
        rnd = self.rnd
        messages = [
            {
                "role": rnd.choice(["user", "assistant"]),
                "content": [self.part() for _ in range(rnd.randint(1, 5))],
            }
            for _ in range(rnd.randint(1, 3))
        ]
        raw = orjson.dumps({"model": "m", "messages": messages})
        if rnd.random() < 0.2:
            raw = raw.replace(b"/", b"\\/", rnd.randint(1, 3))  # JSON escapes in a URL
        if rnd.random() < 0.15:  # a byte that may break the JSON
            at = rnd.randrange(len(raw))
            raw = raw[:at] + rnd.choice([b'"', b"\\", b"\n", b"}", b"\xff"]) + raw[at:]
        return raw


def _bytes_in(value: Any) -> Iterator[bytes]:
    if isinstance(value, bytes):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _bytes_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _bytes_in(item)


@pytest.mark.parametrize("seed", range(4))
def test_random_bodies_parse_as_json_or_are_refused(seed: int) -> None:
    bodies = _Bodies(seed)
    for _ in range(100):
        raw = bodies.body()
        try:
            expected = orjson.loads(raw)
        except orjson.JSONDecodeError:
            expected = None
        try:
            got = parse_body(raw)
        except InvalidRequest:
            assert expected is None
            continue
        unclean = [u for u in _bytes_in(got) if not u.isascii() or min(u) < 32]
        if unclean:  # what JSON refused, taken as bytes: the image pipeline refuses it
            for url in unclean:
                with pytest.raises(ImageError):
                    parse_data_url(url, "p", 10**8)
            continue
        assert expected is not None and as_parsed(got) == expected
