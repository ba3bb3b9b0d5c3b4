"""Request ids: one per answer, on every answer (``x-request-id``), whichever route made it.

A client's own ``x-request-id`` is kept when it is short printable ASCII (so a caller can
follow its id through the gateway's logs and usage rows); otherwise the gateway makes one
from a random prefix per process and a counter, unique without asking the OS for
randomness on every request.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["REQUEST_ID_KEY", "RequestIds", "stamped"]

REQUEST_ID_KEY = "visiongate.request_id"  # where the gateway leaves the id in the ASGI scope

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_HEADER = b"x-request-id"


class RequestIds:
    """Hands out request ids for one process."""

    __slots__ = ("_ids", "_prefix")

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)

    def take(self, given: str | None) -> str:
        """``given`` when it is usable as an id, else a new one."""
        if given and len(given) <= 128 and given.isascii() and given.isprintable():
            return given
        return f"{self._prefix}{next(self._ids):012x}"

    def for_scope(self, scope: MutableMapping[str, Any]) -> str:
        """The id for an ASGI request, from its ``x-request-id`` header if it has one."""
        for key, value in scope.get("headers", ()):
            if key == _HEADER:
                return self.take(value.decode("latin-1"))
        return self.take(None)


def stamped(send: Send, request_id: str) -> Send:
    """``send`` that adds ``x-request-id`` to the answer's head unless the route set it."""
    rid = request_id.encode()

    async def send_stamped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(key.lower() == _HEADER for key, _ in headers):
                headers.append((_HEADER, rid))
                message = {**message, "headers": headers}
        await send(message)

    return send_stamped
