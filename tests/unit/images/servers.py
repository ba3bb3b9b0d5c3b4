"""A loopback image host for the fetch tests: images, redirects, slow and endless bodies."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter

from aiohttp import web

from tests.support.images import make_image

__all__ = ["PNG", "image_host"]

PNG = make_image("PNG", (64, 48))
HITS = web.AppKey("hits", Counter)


BOMB_ENCODINGS = web.AppKey("bomb_encodings", list)  # what /bomb was asked to send
_BOMB = gzip.compress(bytes(64 * 2**20), compresslevel=9)


def image_host() -> web.Application:
    """Routes: /img.png, /redirect?to=URL[&status=N], /loop, /slow, /stall, /endless,
    /huge-declared, /status/N. ``app[HITS]`` counts requests per path."""
    app = web.Application()
    app[HITS] = Counter()

    @web.middleware
    async def count(request: web.Request, handler):  # type: ignore[no-untyped-def]
        request.app[HITS][request.path] += 1
        return await handler(request)

    app.middlewares.append(count)

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop"})

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        target = "/img.png" if n == 0 else f"/hop/{n - 1}"
        return web.Response(status=301, headers={"Location": target})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(body=PNG, content_type="image/png")

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(PNG[:20])
        await asyncio.sleep(30)
        return response

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        block = b"\x89" * 65536
        for _ in range(10_000):  # 640 MB if nobody stops reading
            await response.write(block)
        return response

    async def huge_declared(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 100_001, content_type="image/png")

    async def bomb(request: web.Request) -> web.Response:
        # 64 MB of zeros in ~64 KB of gzip, sent though the fetcher asked for identity.
        request.app[BOMB_ENCODINGS].append(request.headers.get("Accept-Encoding"))
        headers = {"Content-Encoding": "gzip", "Content-Type": "image/png"}
        return web.Response(body=_BOMB, headers=headers)

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")

    app.router.add_get("/img.png", image)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/hop/{n}", hop)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stall", stall)
    app.router.add_get("/endless", endless)
    app.router.add_get("/huge-declared", huge_declared)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/bomb", bomb)
    app[BOMB_ENCODINGS] = []
    return app
