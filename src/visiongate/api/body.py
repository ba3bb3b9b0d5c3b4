"""A request body as a JSON object: the first step of every surface's parser."""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.api.cut import CHAT, Cut, put_back
from visiongate.errors import InvalidRequest

__all__ = ["parse_body"]


def parse_body(body: bytes | bytearray, cut: Cut = CHAT) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it.

    Large data URLs (or, for the Messages API, base64 fields) at the places the surface's
    ``cut`` names come back as ``bytes`` rather than ``str`` (cut.py): parsing them is most
    of what a large body costs, and they need none of it.
    """
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object.", param=None)
    skeleton, urls = cut.find(body)
    if urls:
        try:
            data = orjson.loads(skeleton)
        except orjson.JSONDecodeError:
            pass  # parsed again below, for the error's position in the body as sent
        else:
            if put_back(data, urls, cut.places):
                return data
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}", param=None) from exc
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", param=None)
    return data
