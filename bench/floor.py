"""A deliberately thin OpenAI pass-through gateway: the floor to measure visiongate against.

    python bench/floor.py --port 18102 --upstream http://127.0.0.1:18180/v1 --key sk-floor

Raw ASGI on uvicorn (uvloop + httptools), one pooled aiohttp session, orjson: it checks the
Bearer key, reads the body, checks that it is a JSON object with a model, forwards it to
the OpenAI-type upstream and relays the answer (streams chunk by chunk). No validation,
translation, images, limits, metrics or records. ``run.py --with-floor`` runs it on the
OpenAI route, so the machine's speed at the moment is measured next to visiongate rather
than taken from numbers recorded on another day; the project's target is 75% of it.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import orjson
import uvicorn

_JSON = [(b"content-type", b"application/json")]


class Floor:
    def __init__(self, upstream: str, key: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.auth = f"Bearer {key}".encode()
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if dict(scope["headers"]).get(b"authorization") != self.auth:
            await self._reply(send, 401, b'{"error":{"message":"bad key"}}')
            return
        pieces = []
        while True:
            message = await receive()
            pieces.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        data = orjson.loads(body)
        if not isinstance(data, dict) or "model" not in data:
            await self._reply(send, 400, b'{"error":{"message":"bad body"}}')
            return
        assert self.session is not None
        headers = {"content-type": "application/json", "authorization": "Bearer sk-upstream"}
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            kind = resp.headers.get("content-type", "application/json").encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [(b"content-type", kind)],
                }
            )
            if data.get("stream"):
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send({"type": "http.response.body", "body": await resp.read()})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _reply(send: Any, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--port", type=int, default=18102)
    ap.add_argument("--upstream", required=True, help="the OpenAI-type base URL (…/v1)")
    ap.add_argument("--key", default="sk-floor")
    args = ap.parse_args()
    uvicorn.run(
        Floor(args.upstream, args.key),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
